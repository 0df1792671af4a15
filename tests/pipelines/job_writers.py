"""Processes that update one job record at once (spawned by test_job_records.py).

In a module of its own so a spawned process imports it by name without the test's fixtures.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, cast

from dagster_versioned.errors import JobEnded
from dagster_versioned.pps.jobs import JobInfo, JobState, JobStore
from dagster_versioned.store import Store


def count_datums(url: str, options: dict[str, Any], pipeline: str, job_id: str, n: int) -> int:
    """Add one processed datum ``n`` times, as a fan-out worker does; how many were refused."""
    jobs = JobStore(Store.open(url, **options))
    job = jobs.load_job(pipeline, job_id)
    refused = 0
    for _ in range(n):
        try:
            job = jobs.update_job(
                job, lambda cur: replace(cur, data_processed=cur.data_processed + 1)
            )
        except JobEnded:
            refused += 1
    return refused


def end_job(url: str, options: dict[str, Any], pipeline: str, job_id: str, state: str) -> str:
    """End the job in ``state`` (as a run-status sensor does); the state the record then has."""
    jobs = JobStore(Store.open(url, **options))
    job = jobs.load_job(pipeline, job_id)
    try:
        job = jobs.update_job(job, lambda cur: cur.with_state(JobState(state), f"ended by {state}"))
    except JobEnded as e:
        job = cast(JobInfo, e.job)
    return job.state.value
