"""Job records are updated by compare-and-swap, and a job that ended stays ended.

The runner, its fan-out workers, the run-status sensors and ``mark_downstream_unrunnable``
all write one job's record. Each change is applied to the newest stored version and retried
when another writer got there first, so no update is lost; a change to a job in a terminal
state (SUCCESS, FAILURE, KILLED, UNRUNNABLE) is refused with ``JobEnded``, so a KILLED written
by a sensor is never overwritten by a slower process.
"""

from __future__ import annotations

import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from dagster_versioned.errors import JobEnded
from dagster_versioned.pps.jobs import JobInfo, JobState, JobStore
from dagster_versioned.store import Store
from dagster_versioned.store.commits import canonical_json, now
from pipelines.job_writers import count_datums, end_job

TERMINAL = [JobState.SUCCESS, JobState.FAILURE, JobState.KILLED, JobState.UNRUNNABLE]


def new_job(jobs: JobStore, state: JobState = JobState.RUNNING) -> JobInfo:
    job = JobInfo(pipeline="edges", id="a" * 32, created=now())
    assert jobs.create_job(job)
    return jobs.update_job(jobs.load_job("edges", job.id), lambda cur: cur.with_state(state))


@pytest.fixture
def jobs(tmp_path: Path) -> JobStore:
    return JobStore(Store.open(str(tmp_path / "store")))


def test_creating_a_job_twice_keeps_the_first_record(jobs):
    first = JobInfo(pipeline="edges", id="b" * 32, created=now(), reason="first")
    assert jobs.create_job(first)
    assert not jobs.create_job(replace(first, reason="second"))
    assert jobs.load_job("edges", first.id).reason == "first"


@pytest.mark.parametrize("state", TERMINAL, ids=lambda s: s.short)
def test_a_terminal_state_is_final(jobs, state):
    running = new_job(jobs)
    ended = jobs.update_job(running, lambda cur: cur.with_state(state, "done"))

    with pytest.raises(JobEnded, match=f"already ended in {state.short}") as info:
        jobs.update_job(running, lambda cur: cur.with_state(JobState.SUCCESS))

    assert info.value.job == ended
    assert jobs.load_job("edges", running.id).state == state


def test_a_slow_writer_cannot_overwrite_a_kill(jobs):
    """The runner read RUNNING; a sensor then wrote KILLED; the runner's SUCCESS is refused."""
    seen_by_runner = new_job(jobs)
    jobs.update_job(
        jobs.load_job("edges", seen_by_runner.id),
        lambda cur: cur.with_state(JobState.KILLED, "run canceled"),
    )
    with pytest.raises(JobEnded):
        jobs.update_job(seen_by_runner, lambda cur: cur.with_state(JobState.SUCCESS))
    stored = jobs.load_job("edges", seen_by_runner.id)
    assert (stored.state, stored.reason) == (JobState.KILLED, "run canceled")


def test_an_update_from_a_stale_copy_is_applied_to_the_newest_version(jobs):
    stale = new_job(jobs)
    jobs.update_job(stale, lambda cur: replace(cur, data_processed=cur.data_processed + 1))
    jobs.update_job(stale, lambda cur: replace(cur, data_processed=cur.data_processed + 1))
    assert jobs.load_job("edges", stale.id).data_processed == 2


def test_a_restarted_job_refuses_the_writers_of_its_earlier_incarnation(jobs):
    old = new_job(jobs)
    jobs.restart_job(old, lambda cur: replace(cur, restart=cur.restart + 1, dagster_run_id="run-2"))
    with pytest.raises(JobEnded, match="was restarted"):
        jobs.update_job(old, lambda cur: cur.with_state(JobState.FAILURE, "late"))
    assert jobs.load_job("edges", old.id).state == JobState.RUNNING


def test_a_record_written_before_revision_logs_is_read_and_updated(jobs):
    job = JobInfo(pipeline="edges", id="c" * 32, created=now(), state=JobState.RUNNING)
    jobs.records.put(f"jobs/edges/{job.id}.json", canonical_json(job.to_json()))

    loaded = jobs.load_job("edges", job.id)
    updated = jobs.update_job(loaded, lambda cur: cur.with_state(JobState.SUCCESS))

    assert (loaded.revision, updated.revision) == (-1, 0)
    assert jobs.load_job("edges", job.id).state == JobState.SUCCESS
    assert [j.id for j in jobs.list_jobs("edges")] == [job.id]


def test_a_stale_hint_costs_a_probe_never_a_wrong_answer(jobs):
    job = new_job(jobs)
    hint = f"jobs/edges/{job.id}.json"
    old_hint = jobs.records.read(hint)
    jobs.update_job(job, lambda cur: cur.with_state(JobState.SUCCESS))
    jobs.records.put(hint, old_hint)  # a slower writer refreshed the hint last
    assert jobs.load_job("edges", job.id).state == JobState.SUCCESS
    assert json.loads(old_hint)["state"] == JobState.RUNNING.value


def _pool(n: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn"))


def _location(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, dict[str, Any]]:
    if request.param == "local":
        return str(tmp_path / "store"), {}
    bucket: str = request.getfixturevalue("s3_bucket")
    return f"s3://{bucket}/store", request.getfixturevalue("s3_storage_options")


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, dict[str, Any]]:
    return _location(request, tmp_path)


def test_concurrent_processes_lose_no_update(shared):
    url, options = shared
    jobs = JobStore(Store.open(url, **options))
    job = new_job(jobs)
    processes, each = 4, 10 if not url.startswith("s3") else 4
    with _pool(processes) as pool:
        futures = [
            pool.submit(count_datums, url, options, "edges", job.id, each) for _ in range(processes)
        ]
        refused = [f.result() for f in futures]
    assert refused == [0] * processes
    assert jobs.load_job("edges", job.id).data_processed == processes * each


def test_a_kill_racing_a_success_in_other_processes_leaves_exactly_one_final_state(tmp_path):
    url = str(tmp_path / "store")
    jobs = JobStore(Store.open(url))
    for round_ in range(5):
        job = new_job(jobs) if round_ == 0 else _fresh(jobs, round_)
        with _pool(2) as pool:
            a = pool.submit(end_job, url, {}, "edges", job.id, JobState.KILLED.value)
            b = pool.submit(end_job, url, {}, "edges", job.id, JobState.SUCCESS.value)
            seen = {a.result(), b.result()}
        stored = jobs.load_job("edges", job.id)
        # Both writers see the one state that won; it is the one stored, and it stays.
        assert seen == {stored.state.value}
        assert stored.state in (JobState.KILLED, JobState.SUCCESS)


def _fresh(jobs: JobStore, n: int) -> JobInfo:
    job = JobInfo(pipeline="edges", id=f"{n:032x}", created=now())
    assert jobs.create_job(job)
    return jobs.update_job(jobs.load_job("edges", job.id), lambda c: c.with_state(JobState.RUNNING))
