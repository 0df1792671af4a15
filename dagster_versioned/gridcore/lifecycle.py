"""What a user can do to a grid job, as Orchest allows it; each is one record update.

These only change the record: the job's sensor acts on it at its next tick (starts a batch for
a run-now request, stops launching when paused, aborts the runs of a cancelled job), so
``dvctl`` can drive a job with no Dagster in the process.

* confirm: DRAFT → PENDING (one-off) or STARTED (cron).
* pause / resume: cron jobs only; resuming counts ticks from now.
* run now: a cron job that is STARTED or PAUSED, or a one-off job still waiting for its time;
  the schedule does not move and the status does not change.
* update: parameters, cron, retention, env of a DRAFT or a cron job; later batches use them.
* cancel: ABORTED (no-op once ended); queued and running runs are aborted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from dagster_versioned.errors import InvalidArgument, StateError
from dagster_versioned.gridcore.grid import ParameterGrid
from dagster_versioned.gridcore.keys import store_cells
from dagster_versioned.gridcore.records import GridJobRecord, GridJobStatus, GridJobStore
from dagster_versioned.gridcore.scheduling import check_cron
from dagster_versioned.store import layout
from dagster_versioned.store.commits import now

UNSET: Any = object()


def confirm(jobs: GridJobStore, name: str, at: datetime | None = None) -> GridJobRecord:
    """Orchest's "Run job": a DRAFT starts (now, at its time, or on its schedule)."""
    when = at or now()

    def change(r: GridJobRecord) -> GridJobRecord:
        if r.status is not GridJobStatus.DRAFT:
            raise StateError(
                f"grid job '{name}' is {r.status.value}, not DRAFT: nothing to confirm"
            )
        if r.is_cron:
            return replace(r, status=GridJobStatus.STARTED, schedule_anchor=when)
        return replace(r, status=GridJobStatus.PENDING)

    return jobs.update(name, change)


def pause(jobs: GridJobStore, name: str) -> GridJobRecord:
    def change(r: GridJobRecord) -> GridJobRecord | None:
        if not r.is_cron:
            raise StateError(f"grid job '{name}' is a one-off job; only cron jobs can be paused")
        if r.status is GridJobStatus.PAUSED:
            return None
        if r.status is not GridJobStatus.STARTED:
            raise StateError(f"grid job '{name}' is {r.status.value}; only a STARTED job can pause")
        return replace(r, status=GridJobStatus.PAUSED)

    return jobs.update(name, change)


def resume(jobs: GridJobStore, name: str, at: datetime | None = None) -> GridJobRecord:
    when = at or now()

    def change(r: GridJobRecord) -> GridJobRecord | None:
        if not r.is_cron:
            raise StateError(f"grid job '{name}' is a one-off job; only cron jobs can be resumed")
        if r.status is GridJobStatus.STARTED:
            return None
        if r.status is not GridJobStatus.PAUSED:
            raise StateError(f"grid job '{name}' is {r.status.value}; only a PAUSED job resumes")
        return replace(r, status=GridJobStatus.STARTED, schedule_anchor=when)

    return jobs.update(name, change)


def request_run(
    jobs: GridJobStore, name: str, requested_by: str = "", at: datetime | None = None
) -> str:
    """Ask for one extra batch with the current parameters; returns the request id."""
    r = jobs.get(name)
    waiting_one_off = (
        not r.is_cron
        and r.status is GridJobStatus.PENDING
        and r.start_at is not None
        and r.start_at > (at or now())
    )
    cron_ok = r.is_cron and r.status in (GridJobStatus.STARTED, GridJobStatus.PAUSED)
    if not (cron_ok or waiting_one_off):
        raise StateError(
            f"grid job '{name}' is {r.status.value}: not in a state which allows triggering a run "
            "(a STARTED or PAUSED cron job, or a one-off job waiting for its start time)"
        )
    return jobs.add_request(name, requested_by)


def update(
    jobs: GridJobStore,
    name: str,
    *,
    grid: ParameterGrid | None = None,
    schedule: str | None = UNSET,
    max_retained_runs: int | None = UNSET,
    env: Mapping[str, str] | None = None,
    at: datetime | None = None,
) -> GridJobRecord:
    """Edit a DRAFT or cron job; runs that exist keep the parameters they ran with."""
    when = at or now()
    if schedule is not UNSET and schedule is not None:
        check_cron(schedule)
    if max_retained_runs is not UNSET and max_retained_runs is not None and max_retained_runs < 0:
        raise InvalidArgument(f"max_retained_runs={max_retained_runs!r}: give a number >= 0")
    if grid is not None:
        cells = grid.require_cells()
        store_cells(jobs.store, layout.grid_job_dir(name), cells)

    def change(r: GridJobRecord) -> GridJobRecord:
        if r.status.ended or r.status is GridJobStatus.ABORTED:
            raise StateError(f"grid job '{name}' is {r.status.value}: no field can change any more")
        if r.status is not GridJobStatus.DRAFT and not r.is_cron:
            raise StateError(
                f"grid job '{name}' is a one-off job that is {r.status.value}: its parameters "
                "and schedule are fixed; duplicate it to run other parameters"
            )
        new = r
        if grid is not None:
            new = replace(new, grid=grid.to_json(), grid_revision=r.grid_revision + 1)
        if schedule is not UNSET:
            if r.status is not GridJobStatus.DRAFT and (schedule is None) != (r.schedule is None):
                raise StateError(
                    f"grid job '{name}' has left DRAFT: it cannot change between one-off and cron"
                )
            started = schedule is not None and r.status is not GridJobStatus.DRAFT
            anchor = when if started else None
            new = replace(new, schedule=schedule, schedule_anchor=anchor)
        if max_retained_runs is not UNSET:
            new = replace(new, max_retained_runs=max_retained_runs)
        if env is not None:
            new = replace(new, env=dict(env))
        return new

    return jobs.update(name, change)


def abort(jobs: GridJobStore, name: str, at: datetime | None = None) -> GridJobRecord:
    """Cancel the job: ABORTED, no more batches, pending run-now requests dropped."""
    when = at or now()

    def change(r: GridJobRecord) -> GridJobRecord | None:
        if r.status.ended:
            return None
        return replace(r, status=GridJobStatus.ABORTED, finished=when)

    record = jobs.update(name, change)
    for request in jobs.requests(name):
        jobs.remove_request(name, request)
    return record
