"""What a user can do to a grid job, as Orchest allows it; each is one record update.

These only change the record: the job's sensor acts on it at its next tick (starts a batch for
a run-now request, stops launching when paused, aborts the runs of a cancelled job), so
``dvctl`` can drive a job with no Dagster in the process.

* confirm: DRAFT → PENDING (one-off) or STARTED (cron).
* pause / resume: cron jobs only; resuming counts ticks from now.
* run now: a cron job that is STARTED or PAUSED, or a one-off job still waiting for its time;
  the schedule does not move and the status does not change.
* update: parameters, cron, retention, env of a DRAFT or a cron job; later batches use them.
  ``update_parameters`` re-reads a parameters file edited after the job was created (what
  ``dvctl grid update`` does): the code that created the job is not needed, the pipeline's
  declared parameters are in the record.
* cancel: ABORTED (no-op once ended); queued and running runs are aborted.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from dagster_versioned.errors import InvalidArgument, StateError
from dagster_versioned.gridcore.cells import ParameterDefaults
from dagster_versioned.gridcore.grid import ParameterGrid
from dagster_versioned.gridcore.keys import store_cells
from dagster_versioned.gridcore.params_file import parameters_file_path, read_parameters_file
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
    """Edit a DRAFT or cron job; runs that exist keep the parameters they ran with.

    Everything is checked before the first write: a job that cannot change raises
    ``StateError`` with no cell map written.
    """
    when = at or now()
    if schedule is not UNSET and schedule is not None:
        check_cron(schedule)
    if max_retained_runs is not UNSET and max_retained_runs is not None and max_retained_runs < 0:
        raise InvalidArgument(f"max_retained_runs={max_retained_runs!r}: give a number >= 0")
    if grid is not None:
        cells = grid.require_cells()
        _check_editable(jobs.get(name))
        store_cells(jobs.store, layout.grid_job_dir(name), cells)

    def change(r: GridJobRecord) -> GridJobRecord:
        _check_editable(r)
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


def _check_editable(r: GridJobRecord) -> None:
    """Orchest's rule: DRAFT and cron jobs can change; a started one-off job or an ended one not."""
    if r.status.ended or r.status is GridJobStatus.ABORTED:
        raise StateError(f"grid job '{r.name}' is {r.status.value}: no field can change any more")
    if r.status is not GridJobStatus.DRAFT and not r.is_cron:
        raise StateError(
            f"grid job '{r.name}' is a one-off job that is {r.status.value}: its parameters "
            "and schedule are fixed; duplicate it to run other parameters"
        )


def record_defaults(record: GridJobRecord) -> ParameterDefaults:
    """The pipeline's declared parameters and defaults, as the job's record keeps them."""
    pipeline = record.pipeline
    return ParameterDefaults(
        pipeline=dict(pipeline.get("parameters", {})),
        steps={s["name"]: dict(s.get("parameters", {})) for s in pipeline.get("steps", [])},
    )


def job_parameters_file(record: GridJobRecord) -> Path:
    """``<project>/<pipeline>.parameters.json`` of the job's live project (not the snapshot)."""
    project = (record.snapshot or {}).get("project_dir")
    if not project:
        raise InvalidArgument(
            f"grid job '{record.name}' has no project directory (it runs live code, no "
            "snapshot): give the parameters file to read"
        )
    return parameters_file_path(project, str(record.pipeline.get("name", "")))


def update_parameters(
    jobs: GridJobStore,
    name: str,
    path: str | os.PathLike[str] | None = None,
    *,
    deselect: Iterable[int] = (),
    at: datetime | None = None,
) -> tuple[GridJobRecord, ParameterGrid, bool]:
    """Apply a parameters file edited after the job was created; later batches use it.

    ``path`` defaults to the project's ``<pipeline>.parameters.json``. The file is read as
    strictly as at creation, against the parameters the record declares, and ``deselect``
    replaces the job's deselected cells. Returns the record, the grid it had before, and
    whether anything changed (an identical grid writes nothing).
    """
    record = jobs.get(name)
    _check_editable(record)
    before = ParameterGrid.from_json(record.grid)
    file = Path(path) if path is not None else job_parameters_file(record)
    grid = read_parameters_file(file, defaults=record_defaults(record), deselected=deselect)
    grid.require_cells(str(file))
    if grid == before:
        return record, before, False
    return update(jobs, name, grid=grid, at=at), before, True


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
