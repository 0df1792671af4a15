"""A job record's life: created, taken on, counted, ended — every change by compare-and-swap.

The runner, its fan-out workers, the run-status sensors and the lost-worker sensor all move a
job through Pachyderm's states; each does it here, as a change applied to the newest stored
record (``JobStore.update_job``), so a state another process wrote is never overwritten and a
terminal state stays final.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Collection
from dataclasses import replace
from typing import Any

from dagster_versioned.errors import (
    CommitNotFound,
    JobEnded,
    RepoNotFound,
)
from dagster_versioned.pps.ids import DatumId, JobId
from dagster_versioned.pps.jobs import (
    DatumInfo,
    DatumState,
    JobInfo,
    JobState,
    JobStats,
    JobStore,
)
from dagster_versioned.pps.leases import job_leases
from dagster_versioned.pps.spec import PipelineSpec
from dagster_versioned.pps.transform import DatumResult
from dagster_versioned.store import Store
from dagster_versioned.store.commits import now

log = logging.getLogger("dagster_versioned.pipelines")


_PROGRESS_EVERY = 0.5


def register_pipeline(jobs: JobStore, spec: PipelineSpec) -> dict[str, Any]:
    """Record the pipeline (name, version, salt); the version grows when the spec changes.

    Like Pachyderm, the salt is kept across updates unless the spec sets a new one, so editing a
    pipeline does not by itself throw away its processed datums — changing the code does.
    """
    old = jobs.load_pipeline(spec.name)
    fingerprint = {
        "transform": spec.transform_hash,
        "input": spec.input.to_spec(),
        "output_branch": spec.output_branch,
        "salt": spec.salt,
    }
    if old is not None and old.get("fingerprint") == fingerprint:
        return old
    salt = spec.salt or (old["salt"] if old else secrets.token_hex(16))
    record = {
        "name": spec.name,
        "version": (old["version"] + 1) if old else 1,
        "salt": salt,
        "fingerprint": fingerprint,
        "description": spec.description,
        "input": spec.input.to_spec(),
        "output_branch": spec.output_branch,
        "transform": spec.transform_json(),
        "created": old["created"] if old else now().isoformat(),
        "updated": now().isoformat(),
    }
    jobs.save_pipeline(record)
    return record


def create_job(
    store: Store, spec: PipelineSpec, job_id: JobId, run_id: str | None = None
) -> JobInfo:
    """Record job ``<pipeline>@<id>`` as CREATED (idempotent: an existing record is returned)."""
    jobs = JobStore(store)
    record = register_pipeline(jobs, spec)
    job = JobInfo(
        pipeline=spec.name,
        id=job_id,
        pipeline_version=record["version"],
        output_branch=spec.output_branch,
        created=now(),
        details=spec.details(record["salt"]),
        dagster_run_id=run_id,
    )
    if jobs.create_job(job):
        return job
    return jobs.load_job(spec.name, job_id)


def restarted(job: JobInfo) -> JobInfo:
    """The job's next incarnation: ``restart`` + 1, counts and outcome cleared."""
    return replace(
        job,
        restart=job.restart + 1,
        reason="",
        started=None,
        finished=None,
        data_processed=0,
        data_skipped=0,
        data_failed=0,
        data_recovered=0,
        data_total=0,
        stats=JobStats(),
        output_commit=None,
    )


def end_job(
    store: Store,
    pipeline: str,
    job_id: JobId,
    state: JobState,
    reason: str,
    cb: Callable[[JobInfo], None] | None,
    *,
    run_id: str | None = None,
    restart: int | None = None,
) -> JobInfo:
    """End the job in ``state`` unless it has ended already (then it is left as it is).

    A job whose output commit landed records it; one stopped in FINISHING after that (only
    its last write was missing) did succeed and ends SUCCESS, so no job record disowns a
    whole output commit. ``run_id`` ends it only if that run still owns it, ``restart`` only
    if it is still that incarnation (a newer run may have taken it on).
    """
    jobs = JobStore(store)
    landed = output_exists(store, pipeline, job_id)

    def change(cur: JobInfo) -> JobInfo | None:
        if run_id is not None and cur.dagster_run_id not in (None, run_id):
            return None
        if restart is not None and cur.restart != restart:
            return None
        if not landed:
            return cur.with_state(state, reason)
        done = replace(cur, output_commit=job_id)
        if cur.state == JobState.FINISHING:
            return done.with_state(JobState.SUCCESS)
        return done.with_state(state, reason)

    job = jobs.load_job(pipeline, job_id)
    with contextlib.suppress(JobEnded):
        job = save_change(jobs, job, change, cb)
    return job


def save_change(
    jobs: JobStore,
    job: JobInfo,
    change: Callable[[JobInfo], JobInfo | None],
    cb: Callable[[JobInfo], None] | None,
) -> JobInfo:
    """Apply ``change`` to the stored record of ``job`` (compare-and-swap) and report it."""
    job = jobs.update_job(job, change)
    notify(cb, job)
    return job


def notify(cb: Callable[[JobInfo], None] | None, job: JobInfo) -> None:
    if cb is not None:
        cb(job)


class Progress:
    """Datum counts written as datums end, at most every ``_PROGRESS_EVERY`` seconds.

    Every write is a new revision of the job record, so a 10,000-datum job would otherwise
    leave 10,000 revisions; ``list job`` and the UI need progress, not every step of it. The
    final counts come from the datum records at the end of the job in any case.
    """

    def __init__(self, jobs: JobStore, cb: Callable[[JobInfo], None] | None) -> None:
        self.jobs = jobs
        self.cb = cb
        self.pending: list[DatumResult] = []
        self.last = time.monotonic()

    def count(self, job: JobInfo, result: DatumResult) -> JobInfo:
        self.pending.append(result)
        if time.monotonic() - self.last < _PROGRESS_EVERY:
            return job
        return self.flush(job)

    def flush(self, job: JobInfo) -> JobInfo:
        if not self.pending:
            return job
        results, self.pending = self.pending, []
        self.last = time.monotonic()

        def change(cur: JobInfo) -> JobInfo:
            for result in results:
                cur = count_result(cur, result)
            return cur

        return save_change(self.jobs, job, change, self.cb)


def output_exists(store: Store, pipeline: str, job_id: JobId) -> bool:
    try:
        store.inspect_commit(f"{pipeline}@{job_id}")
    except (CommitNotFound, RepoNotFound):
        return False
    return True


def count_result(job: JobInfo, result: DatumResult) -> JobInfo:
    stats = job.stats + result.stats
    if result.state == DatumState.SUCCESS:
        return replace(job, data_processed=job.data_processed + 1, stats=stats)
    if result.state == DatumState.RECOVERED:
        return replace(job, data_recovered=job.data_recovered + 1, stats=stats)
    return replace(job, data_failed=job.data_failed + 1, stats=stats)


def totals(job: JobInfo, infos: list[DatumInfo], recovered: Collection[DatumId] = ()) -> JobInfo:
    """Counters and stats recomputed from the datums (batches may have run anywhere).

    A datum in ``recovered`` (it failed in the job a rerun reruns) that succeeded counts as
    recovered, not processed, so processed + skipped + failed + recovered is the total.
    """
    again = frozenset(recovered)
    states = [i.state for i in infos]
    back = sum(1 for i in infos if i.state == DatumState.SUCCESS and i.id in again)
    stats = JobStats()
    for i in infos:
        if i.state != DatumState.SKIPPED:
            stats = stats + i.stats
    return replace(
        job,
        data_total=len(infos),
        data_skipped=states.count(DatumState.SKIPPED),
        data_processed=states.count(DatumState.SUCCESS) - back,
        data_failed=states.count(DatumState.FAILED),
        data_recovered=states.count(DatumState.RECOVERED) + back,
        stats=stats,
    )


def end_orphaned_jobs(
    store: Store, job_id: JobId, run_id: str, state: JobState, reason: str
) -> list[JobInfo]:
    """End the jobs of a run that will never run them (CREATED or mid-way when the run ended).

    Dagster skips the steps downstream of a failed one, and a canceled or crashed run stops
    them all: their job records would otherwise stay CREATED (or RUNNING) for ever. A job
    whose worker was lost (its lease names a dead process: a step killed outright, which
    fails the run) ends FAILURE naming the worker, as ``lost.end_lost_workers`` would; one
    that a live worker still holds (a step process that outlived its run worker) is left to
    that worker, which ends it itself or, killed too, leaves a lost lease.
    """
    ended = []
    for job in JobStore(store).list_job_set(job_id):
        if job.state.terminal or (job.dagster_run_id and job.dagster_run_id != run_id):
            continue
        leases = (
            job_leases(store.records, job.pipeline, job.id, restart=job.restart)
            if job.state != JobState.CREATED
            else []
        )
        if any(not w.lost() for w in leases):
            continue
        lost = leases[0] if leases else None
        after = end_job(
            store,
            job.pipeline,
            job.id,
            JobState.FAILURE if lost else state,
            lost.lost_reason() if lost else reason,
            None,
            run_id=run_id,
            restart=lost.restart if lost else None,
        )
        if after.state.terminal:
            ended.append(after)
    return ended
