"""A writer killed with SIGKILL at any moment never leaves a branch on a partial commit.

A subprocess (``crash_writer.py``) commits to a local store in every way the store offers
(one-shot puts, ``with store.commit()`` blocks, branch moves to heads and ancestry refs that
fire a trigger, start/put/finish commits, ``put file -r`` of folders that make packs and tree
packs) and updates job records by compare-and-swap, and is
killed at a random moment, 30 times with a fixed seed. After each kill: ``fsck`` is clean, every
branch head is a finished commit whose files read back whole (each file carries the SHA-256 of
its payload) with the content hash the tree records, and an open commit the writer left behind
can be finished or deleted.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from dagster_versioned.pps.jobs import JobStore
from dagster_versioned.store import Store
from dagster_versioned.store.commits import Commit
from dagster_versioned.store.maintenance import fsck
from dagster_versioned.store.objects import hash_bytes

WRITER = Path(__file__).with_name("crash_writer.py")
KILLS = 30
SEED = 20261123


def verify_heads(store: Store) -> int:
    """Check every branch head and every file in it; return how many files were read."""
    files = 0
    for branch in store.list_branch("data"):
        assert branch.head is not None, f"branch {branch.name} has no head"
        head = store.inspect_commit(f"data@{branch.head}")
        assert head.is_finished, f"data@{branch.name} points at unfinished {head.id}"
        for info in store.walk_file(f"data@{head.id}"):
            if info.type == "dir":
                continue
            data = store.get_file(f"data@{head.id}:{info.path}")
            digest, _, payload = data.partition(b"\n")
            assert len(data) == info.size, f"{info.path} in {head.id}: size differs"
            assert hashlib.sha256(payload).hexdigest().encode() == digest, (
                f"{info.path} in {head.id} is torn"
            )
            entry = store.trees.lookup(head.root, info.path)
            assert entry is not None
            pieces = [store.objects.get(c) for c in entry.chunks]  # loose or packed
            assert [hash_bytes(b) for b in pieces] == list(entry.chunks), (
                f"{info.path} in {head.id}: a chunk does not match its hash"
            )
            assert b"".join(pieces) == data
            assert info.hash == entry.hash, info.path
            if len(entry.chunks) == 1:  # a one-chunk file's content hash is its bytes' hash
                assert info.hash == hash_bytes(data), info.path
            files += 1
    return files


def verify_jobs(store: Store) -> int:
    """Every job record reads back whole; how many there are."""
    jobs = JobStore(store).list_jobs()
    for job in jobs:
        assert job.revision >= 0, f"job {job.pipeline}@{job.id} has no revision"
        assert not job.state.terminal or job.finished is not None, job
    return len(jobs)


def no_cycles(store: Store) -> None:
    """Every commit's ancestry ends: a commit can never be its own ancestor."""
    for commit in store.list_commit("data"):
        if not commit.is_finished:
            continue
        seen = {commit.id}
        for ancestor in store.ancestors(commit):
            assert ancestor.id not in seen, f"commit {commit.id} has a cycle in its ancestry"
            seen.add(ancestor.id)


def resolve_open_commits(store: Store, rng: random.Random) -> list[str]:
    """Finish or delete (chosen by ``rng``) every open commit; return what was done."""
    done = []
    listed = store.list_commit("data")
    for branch in store.list_branch("data"):
        listed += store.list_commit(f"data@{branch.name}", number=3)
    open_commits: dict[str, Commit] = {c.id: c for c in listed if not c.is_finished}
    for commit in open_commits.values():
        if rng.random() < 0.5:
            finished = store.finish_commit(f"data@{commit.id}")
            assert finished.is_finished
            assert store.inspect_branch(f"data@{commit.branch}").head is not None
            done.append(f"finished {commit.id}")
        else:
            store.delete_commit(f"data@{commit.id}")
            done.append(f"deleted {commit.id}")
    assert not [c for c in store.list_commit("data") if not c.is_finished]
    for branch in store.list_branch("data"):
        store.start_commit(f"data@{branch.name}")  # no branch is left marked open
        store.delete_commit(f"data@{branch.name}")
    return done


def run_and_kill(url: str, seed: int, delay: float) -> None:
    proc = subprocess.Popen(
        [sys.executable, str(WRITER), url, str(seed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line == b"ready\n", (line, proc.stderr.read() if proc.stderr else b"")
        time.sleep(delay)
        alive = proc.poll() is None
        assert alive, f"writer died by itself: {proc.stderr.read() if proc.stderr else b''!r}"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


@dataclass(frozen=True, slots=True)
class CrashRun:
    """What a run of kills did and what was checked after each (the figures the docs quote)."""

    kills: int
    commits: int
    files_verified: int
    open_finished: int
    open_deleted: int
    leftovers: int
    """Leftovers of interrupted cleanups fsck reported right after a kill (``--fix`` removes)."""
    seconds: float


def crash_run(url: str, *, kills: int, seed: int) -> CrashRun:
    """Kill a writer on the store at ``url`` ``kills`` times, checking the store after each."""
    started = time.monotonic()
    store = Store.open(url)
    store.create_repo("data")
    rng = random.Random(seed)
    files_read = leftovers = 0
    resolutions: list[str] = []
    for kill in range(kills):
        run_and_kill(url, seed=rng.randrange(2**32), delay=rng.uniform(0.02, 0.35))
        store = Store.open(url)  # no cache from before the kill
        report = fsck(store)
        assert report.ok, f"kill {kill}: fsck found {report.problems}"
        files_read += verify_heads(store)
        verify_jobs(store)
        no_cycles(store)
        leftovers += len(report.leftovers)
        resolutions += resolve_open_commits(store, rng)
        report = fsck(store, fix=True)
        assert report.ok, f"kill {kill}, after resolving open commits: {report.problems}"
        assert not fsck(store).leftovers, f"kill {kill}: fsck --fix left leftovers"
        verify_heads(store)
        no_cycles(store)
    finished = sum(r.startswith("finished") for r in resolutions)
    return CrashRun(
        kills=kills,
        commits=len(store.list_commit("data")),
        files_verified=files_read,
        open_finished=finished,
        open_deleted=len(resolutions) - finished,
        leftovers=leftovers,
        seconds=time.monotonic() - started,
    )


@pytest.mark.timeout(120)
def test_a_writer_killed_at_random_moments_never_leaves_a_partial_commit_visible(tmp_path):
    run = crash_run(str(tmp_path / "store"), kills=KILLS, seed=SEED)
    assert run.files_verified > 0
    assert run.commits > KILLS
    print(  # the figures docs/reliability.md quotes (pytest -s)
        f"{run.kills} kills survived; {run.commits} commits in the repo; {run.files_verified} "
        f"files verified; open commits left behind: {run.open_finished} finished, "
        f"{run.open_deleted} deleted; {run.leftovers} leftovers reported by fsck"
    )
