"""A writer process for the crash tests: commits to one store forever until it is killed.

Run as ``python crash_writer.py <store> <seed>``. It prints ``ready`` once the store is open,
then mixes one-shot commits, ``with store.commit()`` blocks, branch moves (to heads and to
ancestry refs, which fire the trigger on ``staged``), start/finish commits, ``put file -r`` of
a local folder wide and deep enough to write a pack and a tree pack, and compare-and-swap
updates of job records. Every file's content starts with the SHA-256 of the rest, so a reader
can tell a whole file from a torn one without knowing what the writer meant to write.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from dagster_versioned.errors import VersionedError
from dagster_versioned.pps.jobs import JobInfo, JobState, JobStore
from dagster_versioned.store import Store
from dagster_versioned.store.commits import now
from dagster_versioned.store.triggers import Trigger

BRANCHES = ("master", "dev", "feature")
TRIGGERED = "staged"
"""Follows ``master`` every second commit: fired by commits and by head moves alike."""
FOLDER_FILES = 24
"""Files of a ``put file -r``, one folder each: at least 16 small objects (a pack) and 16 new
tree nodes (a tree pack)."""


def content(rng: random.Random) -> bytes:
    """Self-verifying bytes: ``<sha256 hex of payload>\\n<payload>``."""
    payload = rng.randbytes(rng.choice((0, 10, 1000, 50_000, 300_000)))
    return hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload


def put_folder(store: Store, rng: random.Random, branch: str, n: int, scratch: Path) -> None:
    """``put file -r`` of a fresh local folder: ``FOLDER_FILES`` small files, each in a
    folder of its own, two levels deep."""
    local = scratch / str(n)
    for i in range(FOLDER_FILES):
        path = local / f"g{i % 4}" / f"h{i}" / "f.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = rng.randbytes(rng.choice((10, 200, 2000)))
        path.write_bytes(hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload)
    with store.commit(f"data@{branch}", description=f"folder {n}") as c:
        c.put_file(f"/tree/{n % 3}", local)


def update_job(store: Store, rng: random.Random, n: int) -> None:
    """Create a job or move one on, as the runner and the sensors do (compare-and-swap)."""
    jobs = JobStore(store)
    job_id = f"{n % 5:032x}"
    job = jobs.find_job("pipe", job_id)
    if job is None:
        jobs.create_job(JobInfo(pipeline="pipe", id=job_id, created=now()))
        return
    if job.state.terminal:
        jobs.restart_job(
            job, lambda cur: replace(cur, restart=cur.restart + 1, state=JobState.CREATED)
        )
        return
    state = rng.choice((JobState.RUNNING, JobState.RUNNING, JobState.KILLED, JobState.FAILURE))
    jobs.update_job(
        job, lambda cur: replace(cur, data_processed=cur.data_processed + 1).with_state(state)
    )


def step(store: Store, rng: random.Random, n: int, scratch: Path) -> None:
    branch = rng.choice(BRANCHES)
    kind = rng.randrange(7)
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
        ancestry = rng.choice(("", "", "^1", "^2"))
        store.create_branch(f"data@{branch}", head=f"data@{source}{ancestry}")
    elif kind == 4:
        put_folder(store, rng, branch, n, scratch)
    elif kind == 5:
        update_job(store, rng, n)
    elif kind == 6:
        store.put_file(f"data@master:/one/{n % 7}.bin", content(rng))  # feeds the trigger
    else:
        store.start_commit(f"data@{branch}", description=f"open {n}")
        for i in range(rng.randint(1, 3)):
            store.put_file(f"data@{branch}:/open/{n % 3}/{i}.bin", content(rng))
        store.finish_commit(f"data@{branch}")


def main() -> None:
    url, seed = sys.argv[1], int(sys.argv[2])
    rng = random.Random(seed)
    store = Store.open(url)
    try:
        store.inspect_branch(f"data@{TRIGGERED}")
    except VersionedError:  # the first writer: no earlier one made it
        with contextlib.suppress(VersionedError):
            store.create_branch(f"data@{TRIGGERED}", trigger=Trigger(branch="master", commits=2))
    print("ready", flush=True)
    n = 0
    with tempfile.TemporaryDirectory(prefix="dv-crash-") as scratch:
        while True:
            n += 1
            try:
                step(store, rng, n, Path(scratch))
            except VersionedError:
                # e.g. a branch still holding the open commit an earlier kill left behind
                continue


if __name__ == "__main__":
    main()
