"""Concurrent writers, run and checked: shared by the CI test and ``benchmarks.reliability``.

``run_writers`` starts ``processes`` writer processes (spawn) that each make ``per_process``
one-shot commits, all to ``repo@master`` or each to a branch of its own, then checks what the
store holds against what every writer says it made: every commit is in its branch's history
exactly once (none lost, none doubled), each history is one linear chain, each head is the
newest commit, every file reads back, and each writer's commits keep the order it made them in.
"""

from __future__ import annotations

import multiprocessing
import time
from dataclasses import dataclass
from typing import Any

from dagster_versioned.store import Store

from .workers import one_shot_commits


@dataclass(frozen=True, slots=True)
class WritersRun:
    """What a run of concurrent writers attempted and what landed."""

    processes: int
    per_process: int
    branches: int
    attempted: int
    landed: int
    lost: int
    seconds: float


def run_writers(
    url: str,
    options: dict[str, Any],
    *,
    processes: int,
    per_process: int,
    separate_branches: bool,
    timeout: float = 280.0,
) -> WritersRun:
    """Race ``processes`` writers on a fresh repo ``repo`` and check the result (asserts)."""
    store = Store.open(url, **options)
    store.create_repo("repo")
    branches = [f"w{w}" if separate_branches else "master" for w in range(processes)]
    roots = {b: store.create_branch(f"repo@{b}").head for b in set(branches)}
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes)
    results = ctx.Queue()
    procs = [
        ctx.Process(
            target=one_shot_commits,
            args=(url, options, w, per_process, barrier, results, branches[w]),
        )
        for w in range(processes)
    ]
    started = time.monotonic()
    for p in procs:
        p.start()
    made: dict[int, list[str]] = dict(results.get(timeout=timeout) for _ in procs)
    seconds = time.monotonic() - started
    for p in procs:
        p.join(timeout=30)
    assert [p.exitcode for p in procs] == [0] * processes

    landed = 0
    for branch, root in roots.items():
        writers = [w for w in range(processes) if branches[w] == branch]
        landed += check_branch(store, branch, root, {w: made[w] for w in writers}, per_process)
    attempted = processes * per_process
    return WritersRun(
        processes=processes,
        per_process=per_process,
        branches=len(roots),
        attempted=attempted,
        landed=landed,
        lost=attempted - landed,
        seconds=seconds,
    )


def check_branch(
    store: Store, branch: str, root: str | None, made: dict[int, list[str]], per_process: int
) -> int:
    """Check one branch against what its writers made; return how many of their commits landed."""
    history = store.list_commit(f"repo@{branch}")
    ids = [c.id for c in history]
    assert len(ids) == len(set(ids)), f"{branch}: a commit appears twice in the history"
    assert history[-1].id == root, f"{branch}: the history does not end at the branch's root"
    assert [c.parent for c in history[:-1]] == ids[1:], f"{branch}: the history is not linear"
    assert store.inspect_branch(f"repo@{branch}").head == ids[0], f"{branch}: head is not newest"
    made_ids = [cid for cids in made.values() for cid in cids]
    assert len(set(made_ids)) == len(made_ids) == len(made) * per_process
    landed = set(made_ids) & set(ids)
    assert landed == set(made_ids), f"{branch}: {len(made_ids) - len(landed)} commits lost"
    assert set(ids[:-1]) == landed, f"{branch}: commits nobody made are in the history"
    files = {f.path for f in store.walk_file(f"repo@{branch}") if f.type == "file"}
    assert files == {f"/w{w}/{i}.txt" for w in made for i in range(per_process)}
    for w in made:  # a few files read back with the content their writer put
        for i in {0, per_process // 2, per_process - 1}:
            assert store.get_file(f"repo@{branch}:/w{w}/{i}.txt") == f"{w}-{i}".encode()
    position = {cid: n for n, cid in enumerate(ids)}
    for w, cids in made.items():  # each writer's own commits in the order it made them
        positions = [position[cid] for cid in cids]
        assert positions == sorted(positions, reverse=True), f"writer {w} on {branch}"
    return len(landed)
