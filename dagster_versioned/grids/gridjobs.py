"""``grid_job``: an Orchest job as Dagster definitions — partitioned assets, a job, a sensor.

A grid job runs a ``GridPipeline`` once per selected cell of a ``ParameterGrid``: now, at a set
time, or on a cron schedule, always from the snapshot of the project taken when the job was
created. One *batch* (Orchest's job run) is one Dagster run per cell, all tagged with the job
id, the batch index, the cell index, a run index and the batch's global id. The job itself —
its definitions, its sensor and its controls — is ``job.GridJob``; this module creates or
loads jobs.

Calling ``grid_job`` again with the same name (every process that loads the definitions does)
returns the existing job: the record in the store wins, and its snapshot is never retaken.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg

from dagster_versioned.errors import AlreadyExists, VersionedError
from dagster_versioned.gridcore.create import (
    GridInput,
    JobOptions,
    create_job_record,
    normalize_grid,
)
from dagster_versioned.gridcore.grid import ParameterGrid
from dagster_versioned.gridcore.pipeline import GridPipeline
from dagster_versioned.gridcore.records import GridJobRecord, GridJobStore
from dagster_versioned.grids.job import GridJob
from dagster_versioned.io.resource import open_store, resolve_storage

log = logging.getLogger("dagster_versioned")


def grid_job(
    name: str,
    pipeline: GridPipeline,
    grid: GridInput = None,
    schedule: str | None = None,
    *,
    at: datetime | None = None,
    snapshot: str | os.PathLike[str] | None = None,
    max_retained_runs: int | None = None,
    allow_overlap: bool = True,
    on_overlap: str = "skip",
    deselect: Iterable[int] = (),
    env: Mapping[str, str] | None = None,
    draft: bool = False,
    title: str | None = None,
    storage: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    workdir_root: str | os.PathLike[str] | None = None,
    tick_interval: int = 30,
    sensor_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING,
) -> GridJob:
    """Create (or, when the name exists, load) a grid job and return it.

    Args:
        name: the job's name (letters, digits, ``_``); also the Dagster job's name.
        pipeline: the steps and their declared parameters.
        grid: a ``ParameterGrid``, a parameters-file path or mapping; ``None`` reads
            ``<snapshot>/<pipeline>.parameters.json`` if present, else the defaults.
        schedule: a cron string for a recurring job; ``None`` for one-off.
        at: a one-off job's start time (aware datetime); ``None`` starts it at once.
        snapshot: the project directory to snapshot; ``None`` runs live code, unisolated.
        max_retained_runs: keep only the newest N finished runs (``None``: keep all).
        allow_overlap: ``False`` stops a cron tick from starting while a batch is active;
            ``on_overlap`` says whether that tick is skipped (``skip``) or waits (``queue``).
        deselect: cell indices (in canonical order) not to run.
        draft: create as DRAFT; ``confirm()`` starts it.
    """
    job = GridJob(
        name,
        pipeline,
        storage=storage,
        storage_options=storage_options,
        workdir_root=workdir_root,
        project_dir=snapshot,
        tick_interval=tick_interval,
        sensor_status=sensor_status,
    )
    project = Path(snapshot) if snapshot is not None else None
    if job.jobs.exists(name):  # the stored job stands; the code's arguments only warn
        _warn_if_changed(
            job.record,
            pipeline,
            lambda: normalize_grid(grid, pipeline, project, deselect),
            schedule,
        )
        return job
    normalized = normalize_grid(grid, pipeline, project, deselect)
    options = JobOptions(
        schedule=schedule,
        at=at,
        snapshot=snapshot,
        max_retained_runs=max_retained_runs,
        allow_overlap=allow_overlap,
        on_overlap=on_overlap,
        env=env,
        draft=draft,
        title=title,
    )
    with contextlib.suppress(AlreadyExists):  # another process created it first: theirs stands
        create_job_record(job.store, name, pipeline, normalized, options)
    return job


def _warn_if_changed(
    record: GridJobRecord,
    pipeline: GridPipeline,
    grid: Callable[[], ParameterGrid],
    schedule: str | None,
) -> None:
    """Log where the code now differs from the stored job (whose record is what runs)."""
    if record.pipeline.get("name") != pipeline.name:
        log.warning(
            "grid job '%s' exists for pipeline '%s', not '%s'; its record is kept",
            record.name,
            record.pipeline.get("name"),
            pipeline.name,
        )
    try:
        differs = ParameterGrid.from_json(record.grid) != grid() or record.schedule != schedule
    except VersionedError as e:
        log.warning("grid job '%s': the parameters in code are invalid (%s); kept", record.name, e)
        return
    if differs:  # a warning: an edited parameters file that silently did nothing cost users time
        log.warning(
            "grid job '%s' exists with other parameters or schedule than the code gives; the "
            "stored job keeps running its own: apply an edited parameters file with "
            "`dvctl grid update %s` (or job.update(grid=...)), or duplicate() the job",
            record.name,
            record.name,
        )


def grid_job_definitions(*jobs: GridJob, **extra: Any) -> dg.Definitions:
    """One ``Definitions`` holding several grid jobs (and anything in ``extra``)."""
    return dg.Definitions.merge(*(j.definitions for j in jobs), dg.Definitions(**extra))


def load_grid_jobs(
    pipelines: Sequence[GridPipeline],
    *,
    storage: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> list[GridJob]:
    """Every grid job in the store whose pipeline is one of ``pipelines`` (e.g. duplicates)."""
    by_name = {p.name: p for p in pipelines}
    store = open_store(resolve_storage(storage), dict(storage_options or {}))
    out = []
    for record in GridJobStore(store).list_jobs():
        pipe = by_name.get(str(record.pipeline.get("name")))
        if pipe is None:
            continue
        project = (record.snapshot or {}).get("project_dir")
        out.append(
            GridJob(
                record.name,
                pipe,
                storage=storage,
                storage_options=storage_options,
                project_dir=project,
                **kwargs,
            )
        )
    return out


__all__ = ["GridJob", "grid_job", "grid_job_definitions", "load_grid_jobs"]
