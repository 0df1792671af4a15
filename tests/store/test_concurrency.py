"""Many processes committing to one branch at once: no commit is lost, history stays linear.

Heads move by compare-and-swap on an exclusive create, so of two writers that read the same
head exactly one advances it and the other re-applies its change on the new head.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from dagster_versioned.store import Store
from dagster_versioned.store.finishing import CLAIM_LEASE, FinishClaim, abandoned, claim_key

from .concurrent_run import run_writers
from .workers import finish_open_commits

PROCESSES = 8


@pytest.mark.slow
@pytest.mark.parametrize("branches", ["one-branch", "own-branches"])
def test_concurrent_one_shot_commits_from_many_processes_are_all_kept_in_a_linear_history(
    shared_location: tuple[str, dict[str, Any]], branches: str
):
    url, options = shared_location
    # The moto server is one Python process on the same cores as the writers: fewer commits
    # there keep the suite fast while still racing eight writers on every head move.
    # ``python -m benchmarks.reliability`` runs the same check at 8 x 1,000.
    per_process = 50 if not url.startswith("s3://") else 3
    run = run_writers(
        url,
        options,
        processes=PROCESSES,
        per_process=per_process,
        separate_branches=branches == "own-branches",
    )
    assert run.landed == run.attempted == PROCESSES * per_process
    assert run.lost == 0


ROUNDS = 20


@pytest.mark.slow
def test_two_processes_finishing_one_open_commit_at_once_land_it_exactly_once(
    shared_location: tuple[str, dict[str, Any]],
):
    """Both finishers return the commit (or, arriving after the cleanup, learn it is finished);
    it is in the history once, its parent is the head it was started on, nothing is left open."""
    url, options = shared_location
    rounds = ROUNDS if not url.startswith("s3://") else 5
    store = Store.open(url, **options)
    store.create_repo("repo")
    opened = []
    for n in range(rounds):
        base = store.put_file(f"repo@b{n}:/base.txt", b"base")
        assert base is not None
        commit = store.start_commit(f"repo@b{n}")
        store.put_file(f"repo@b{n}:/open/{n}.txt", f"open {n}".encode())
        opened.append((commit.id, base.id))
    # One finisher names the branch, the other the commit id: both ways race each other.
    refs = [
        [f"repo@b{n}" for n in range(rounds)],
        [f"repo@{cid}" for cid, _ in opened],
    ]
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=finish_open_commits, args=(url, options, r, barrier, results))
        for r in refs
    ]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=240) for _ in range(2 * rounds)]
    for p in procs:
        p.join(timeout=30)
    assert [p.exitcode for p in procs] == [0, 0]

    both_landed = 0
    for n, (cid, base) in enumerate(opened):
        mine = [o for o in outcomes if o[0] == n]
        landed = [o[2] for o in mine if o[1] == "landed"]
        assert landed, f"round {n}: nobody finished {cid}: {mine}"
        assert set(landed) == {cid}, f"round {n}: {mine}"
        for o in mine:
            assert o[1] == "landed" or "no open commit" in o[2] or "already finished" in o[2], o
        both_landed += len(landed) == 2
        history = [c.id for c in store.list_commit(f"repo@b{n}", number=5)]  # bounded: a cycle
        assert history == [cid, base], f"round {n}: {history}"
        assert store.inspect_commit(f"repo@{cid}").parent == base
        assert store.get_file(f"repo@b{n}:/open/{n}.txt") == f"open {n}".encode()
        entries = [e.head for e in store.refs.entries("repo", f"b{n}")]
        assert entries.count(cid) == 1, f"round {n}: ref log {entries}"
    assert not store.backend.listdir("repos/repo/open-branches")
    assert not store.backend.listdir("repos/repo/open-commits")
    assert not [c for c in store.list_commit("repo") if not c.is_finished]
    print(f"{rounds} double finishes: {both_landed} with both finishers returning the commit")


def claim_of(pid: int, *, host: str | None = None, age: float = 0.0) -> bytes:
    return json.dumps(
        {"host": host or socket.gethostname(), "pid": pid, "time": time.time() - age}
    ).encode()


def test_a_finish_claim_whose_process_is_gone_is_taken_over(tmp_path):
    store = Store.open(str(tmp_path / "store"))
    store.create_repo("repo")
    opened = store.start_commit("repo@master")
    store.put_file("repo@master:/a.txt", b"a")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # reaped: its pid names no process now
    store.backend.write(claim_key("repo", opened.id), claim_of(gone.pid))
    started = time.monotonic()
    finished = store.finish_commit("repo@master")
    assert time.monotonic() - started < 5
    assert finished.id == opened.id
    assert not store.backend.exists(claim_key("repo", opened.id))


def test_a_second_finisher_waits_for_the_claim_holder_and_returns_the_commit_it_landed(tmp_path):
    store = Store.open(str(tmp_path / "store"))
    store.create_repo("repo")
    opened = store.start_commit("repo@master")
    store.put_file("repo@master:/a.txt", b"a")
    holder = FinishClaim(store.backend, "repo", opened.id)
    assert holder.acquire()
    second: list[Any] = []
    waiter = threading.Thread(
        target=lambda: second.append(Store.open(store.backend.url).finish_commit("repo@master"))
    )
    waiter.start()
    time.sleep(0.5)
    assert not second, "the second finisher must wait while the claim is held"
    record = store.inspect_commit(f"repo@{opened.id}")
    landed = store.commits.land(record, store.commit_log.ops(record))  # what the holder does
    waiter.join(timeout=30)
    assert [c.id for c in second] == [landed.id] == [opened.id]
    assert [c.id for c in store.list_commit("repo@master", number=5)] == [opened.id]
    assert [e.head for e in store.refs.entries("repo", "master")].count(opened.id) == 1


def test_a_claim_from_another_machine_is_abandoned_only_after_its_lease():
    assert not abandoned(claim_of(1, host="elsewhere", age=10))
    assert abandoned(claim_of(1, host="elsewhere", age=CLAIM_LEASE + 1))
    assert not abandoned(claim_of(os.getpid()))
    assert abandoned(b"{half a claim")
