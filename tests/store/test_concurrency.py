"""Many processes committing to one branch at once: no commit is lost, history stays linear.

Heads move by compare-and-swap on an exclusive create, so of two writers that read the same
head exactly one advances it and the other re-applies its change on the new head.
"""

from __future__ import annotations

import multiprocessing
from typing import Any

import pytest

from dagster_versioned.store import Store

from .workers import one_shot_commits

PROCESSES = 8


@pytest.mark.slow
def test_concurrent_one_shot_commits_from_many_processes_are_all_kept_in_a_linear_history(
    shared_location: tuple[str, dict[str, Any]],
):
    url, options = shared_location
    # The moto server is one Python process on the same cores as the writers: fewer commits
    # there keep the suite fast while still racing eight writers on every head move.
    per_process = 25 if not url.startswith("s3://") else 3
    store = Store.open(url, **options)
    store.create_repo("repo")
    root = store.create_branch("repo@master")
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=one_shot_commits, args=(url, options, w, per_process, barrier, results))
        for w in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    made = dict(results.get(timeout=280) for _ in procs)
    for p in procs:
        p.join(timeout=30)

    history = store.list_commit("repo@master")
    assert [p.exitcode for p in procs] == [0] * PROCESSES
    assert len(history) == PROCESSES * per_process + 1
    assert history[-1].id == root.head
    assert [c.parent for c in history[:-1]] == [c.id for c in history[1:]]  # linear chain
    made_ids = [cid for ids in made.values() for cid in ids]
    assert len(set(made_ids)) == len(made_ids) == PROCESSES * per_process
    assert set(made_ids) == {c.id for c in history[:-1]}
    files = {f.path for f in store.walk_file("repo@master") if f.type == "file"}
    assert files == {f"/w{w}/{i}.txt" for w in range(PROCESSES) for i in range(per_process)}
    last = per_process - 1
    assert store.get_file(f"repo@master:/w7/{last}.txt") == f"7-{last}".encode()
    for w, ids in made.items():  # each writer's own commits appear in the order it made them
        positions = [next(n for n, c in enumerate(history) if c.id == cid) for cid in ids]
        assert positions == sorted(positions, reverse=True), f"writer {w}"
