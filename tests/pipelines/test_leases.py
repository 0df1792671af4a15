"""Worker leases: held while a process works on a job, gone when it stops, left behind — and
read as lost — when it is killed; ``end_lost_workers`` ends the jobs of lost workers.

No Dagster here: the sensor's Dagster half (failing the run) is tested end to end in
test_worker_kill.py.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import time
from dataclasses import replace
from pathlib import Path

import pytest

from dagster_versioned.pps.jobs import JobInfo, JobState, JobStore
from dagster_versioned.pps.leases import (
    LEASE,
    drop_lease,
    hold_lease,
    job_leases,
    lease_session,
    list_leases,
    new_lease,
)
from dagster_versioned.pps.lifecycle import end_orphaned_jobs
from dagster_versioned.pps.lost import end_lost_workers
from dagster_versioned.store import Store
from dagster_versioned.store.commits import now
from pipelines.kill_workers import hold_a_lease

JOB = "a" * 32


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(str(tmp_path / "store"))


def running_job(store: Store, *, run_id: str | None = "r1") -> JobInfo:
    jobs = JobStore(store)
    jobs.create_job(JobInfo(pipeline="gated", id=JOB, created=now(), dagster_run_id=run_id))
    return jobs.update_job(jobs.load_job("gated", JOB), lambda c: c.with_state(JobState.RUNNING))


def write_lease(store: Store, **changes) -> None:
    lease = replace(new_lease("gated", JOB, restart=0, run_id="r1", step="datums 1/1"), **changes)
    store.records.put(lease.key, json.dumps(lease.to_json()).encode())


def dead_pid() -> int:
    proc = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(0,))
    proc.start()
    proc.join()
    return int(proc.pid or 0)


def test_a_lease_exists_while_its_block_runs_and_is_gone_after(store):
    with hold_lease(store.records, "gated", JOB, restart=0, run_id="r1", step="plan") as lease:
        (held,) = list_leases(store.records)
        assert (held.pid, held.host, held.run_id, held.step) == (
            os.getpid(),
            socket.gethostname(),
            "r1",
            "plan",
        )
        assert held.key == lease.key
        assert not held.lost()
    assert list_leases(store.records) == []


def test_a_lease_is_deleted_when_its_block_raises(store):
    with (
        pytest.raises(RuntimeError),
        hold_lease(store.records, "gated", JOB, restart=0, run_id=None, step="plan"),
    ):
        raise RuntimeError("boom")
    assert list_leases(store.records) == []


def test_the_heartbeat_refreshes_the_lease(store):
    with hold_lease(store.records, "gated", JOB, restart=0, run_id=None, step="x", every=0.05):
        first = list_leases(store.records)[0].time
        time.sleep(0.3)
        assert list_leases(store.records)[0].time > first


def test_a_session_shares_one_lease_per_job_until_it_ends(store):
    with lease_session():
        with hold_lease(store.records, "gated", JOB, restart=1, run_id="r", step="plan") as a:
            pass
        assert [w.step for w in list_leases(store.records)] == ["plan"]  # kept between phases
        with hold_lease(store.records, "gated", JOB, restart=1, run_id="r", step="finish") as b:
            (held,) = list_leases(store.records)
            assert (held.token, held.step) == (a.token, "finish")
            assert b.token == a.token
    assert list_leases(store.records) == []


def test_the_lease_of_a_dead_process_on_this_host_is_lost_at_once():
    lease = replace(new_lease("gated", JOB, restart=0, run_id="r1", step="x"), pid=dead_pid())
    assert lease.lost()


def test_a_lease_from_another_host_is_lost_only_after_its_heartbeats_stop():
    lease = replace(new_lease("gated", JOB, restart=0, run_id="r1", step="x"), host="elsewhere")
    assert not lease.lost()
    assert lease.lost(now=lease.time + LEASE + 1)
    assert "no heartbeat for" in lease.lost_reason(now=lease.time + LEASE + 1)


def test_a_pid_from_another_pid_namespace_is_not_looked_up_here():
    lease = new_lease("gated", JOB, restart=0, run_id="r1", step="x")
    elsewhere = replace(lease, pid=dead_pid(), pidns="pid:[1]")
    assert not elsewhere.lost()  # same host name, another container: only expiry tells
    assert elsewhere.lost(now=lease.time + LEASE + 1)


def test_a_process_killed_with_sigkill_leaves_a_lease_that_reads_as_lost(store, tmp_path):
    ready = tmp_path / "ready"
    proc = multiprocessing.get_context("spawn").Process(
        target=hold_a_lease, args=(store.backend.url, JOB, str(ready))
    )
    proc.start()
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        (alive,) = job_leases(store.records, "gated", JOB)
        assert alive.pid == proc.pid
        assert not alive.lost()
    finally:
        proc.kill()
        proc.join()
    (left,) = job_leases(store.records, "gated", JOB)
    assert left.lost()
    assert left.lost_reason() == (
        f"worker pid {proc.pid} on host {socket.gethostname()} (run r1, step x) "
        "was lost: killed or crashed mid-job"
    )


def test_a_job_whose_worker_was_lost_ends_failure_naming_the_worker(store):
    running_job(store)
    write_lease(store, pid=dead_pid())
    ((lease, job),) = end_lost_workers(store)
    assert job is not None
    assert (job.state, job.reason) == (JobState.FAILURE, lease.lost_reason())
    assert f"worker pid {lease.pid}" in job.reason
    assert list_leases(store.records) == []


def test_a_live_worker_is_left_alone(store):
    running_job(store)
    write_lease(store)
    assert end_lost_workers(store) == []
    assert JobStore(store).load_job("gated", JOB).state == JobState.RUNNING
    assert len(list_leases(store.records)) == 1


@pytest.mark.parametrize("ended", [JobState.SUCCESS, JobState.KILLED])
def test_a_lost_worker_never_changes_a_job_that_ended(store, ended):
    jobs = JobStore(store)
    job = running_job(store)
    jobs.update_job(job, lambda c: c.with_state(ended, "ended first"))
    write_lease(store, pid=dead_pid())
    end_lost_workers(store)
    assert (jobs.load_job("gated", JOB).state, jobs.load_job("gated", JOB).reason) == (
        ended,
        "ended first",
    )
    assert list_leases(store.records) == []  # nothing left to do: dropped


def test_a_lost_worker_of_an_earlier_incarnation_does_not_end_the_restarted_job(store):
    jobs = JobStore(store)
    job = running_job(store)
    jobs.restart_job(job, lambda c: replace(c, restart=1, dagster_run_id="r2"))
    write_lease(store, pid=dead_pid(), restart=0)
    end_lost_workers(store)
    assert jobs.load_job("gated", JOB).state == JobState.RUNNING


def test_the_run_is_settled_once_no_worker_of_it_is_alive(store):
    running_job(store)
    write_lease(store, pid=dead_pid())
    write_lease(store, step="datums 2/2")  # another batch of the same run, alive
    asked: list[str] = []

    def settle(lease, reason):
        asked.append(reason)
        return True

    end_lost_workers(store, settle_run=settle)
    assert asked == []  # a live worker of the run: the run is not dead, so not asked yet
    assert len(list_leases(store.records)) == 2  # the lost lease is kept to ask later
    for live in [w for w in list_leases(store.records) if not w.lost()]:
        drop_lease(store.records, live)  # that batch ended
    end_lost_workers(store, settle_run=lambda lease, reason: False)  # too early to tell
    assert len(list_leases(store.records)) == 1
    end_lost_workers(store, settle_run=settle)
    assert len(asked) == 1
    assert "was lost" in asked[0]
    assert list_leases(store.records) == []


def test_a_failed_run_ends_its_mid_way_job_naming_the_lost_worker(store):
    """The run-status sensor may see the run fail (Dagster saw its step process die) before
    the lost-worker sensor runs: it names the worker too, not 'the run failed before'."""
    running_job(store)
    write_lease(store, pid=dead_pid())
    (job,) = end_orphaned_jobs(
        store, JOB, "r1", JobState.UNRUNNABLE, "the run failed before this job ran"
    )
    assert job.state == JobState.FAILURE
    assert "was lost: killed or crashed mid-job" in job.reason


def test_a_failed_run_leaves_a_job_that_a_live_worker_still_holds_to_that_worker(store):
    """A step process can outlive its run worker (the OOM killer took the parent): the run
    fails, but the job is still being worked on, and its worker will end it."""
    running_job(store)
    write_lease(store)
    assert end_orphaned_jobs(store, JOB, "r1", JobState.UNRUNNABLE, "the run failed") == []
    assert JobStore(store).load_job("gated", JOB).state == JobState.RUNNING
