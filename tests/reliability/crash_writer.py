"""A writer process for the crash tests: commits to one store forever until it is killed.

Run as ``python crash_writer.py <store> <seed>``. It prints ``ready`` once the store is open,
then mixes one-shot commits, ``with store.commit()`` blocks, branch moves and start/finish
commits. Every file's content starts with the SHA-256 of the rest, so a reader can tell a
whole file from a torn one without knowing what the writer meant to write.
"""

from __future__ import annotations

import hashlib
import random
import sys

from dagster_versioned.errors import VersionedError
from dagster_versioned.store import Store

BRANCHES = ("master", "dev", "feature")


def content(rng: random.Random) -> bytes:
    """Self-verifying bytes: ``<sha256 hex of payload>\\n<payload>``."""
    payload = rng.randbytes(rng.choice((0, 10, 1000, 50_000, 300_000)))
    return hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload


def step(store: Store, rng: random.Random, n: int) -> None:
    branch = rng.choice(BRANCHES)
    kind = rng.randrange(4)
    if kind == 0:
        store.put_file(f"data@{branch}:/one/{n % 7}.bin", content(rng))
    elif kind == 1:
        with store.commit(f"data@{branch}", description=f"block {n}") as c:
            for i in range(rng.randint(1, 4)):
                c.put_file(f"/block/{n % 5}/{i}.bin", content(rng))
            if rng.random() < 0.3:
                c.delete_file(f"/block/{(n + 1) % 5}")
    elif kind == 2:
        source = rng.choice(BRANCHES)
        store.create_branch(f"data@{branch}", head=f"data@{source}")
    else:
        store.start_commit(f"data@{branch}", description=f"open {n}")
        for i in range(rng.randint(1, 3)):
            store.put_file(f"data@{branch}:/open/{n % 3}/{i}.bin", content(rng))
        store.finish_commit(f"data@{branch}")


def main() -> None:
    url, seed = sys.argv[1], int(sys.argv[2])
    rng = random.Random(seed)
    store = Store.open(url)
    print("ready", flush=True)
    n = 0
    while True:
        n += 1
        try:
            step(store, rng, n)
        except VersionedError:
            # e.g. a branch still holding the open commit an earlier kill left behind
            continue


if __name__ == "__main__":
    main()
