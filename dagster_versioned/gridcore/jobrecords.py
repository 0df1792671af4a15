"""The grid engine's records — job, batch, run state — and Orchest's rules for their status.

What the records hold and how a job's status follows from its batches' runs, apart from
``records.GridJobStore``, which keeps them in a store: ``dvctl`` and the Dagster glue both
derive statuses from records they read, and neither needs the other's way of reading them.

Statuses follow Orchest: a job is DRAFT until confirmed; a one-off job is PENDING until its
batch exists, STARTED while any run is pending or running, then SUCCESS, or FAILURE if any run
failed (ABORTED runs do not fail it); a cron job is STARTED or PAUSED until it is ABORTED.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from dagster_versioned.store import layout
from dagster_versioned.store.commits import format_time, parse_time


class GridJobStatus(StrEnum):
    """Orchest's job statuses."""

    DRAFT = "DRAFT"
    PENDING = "PENDING"
    STARTED = "STARTED"
    PAUSED = "PAUSED"
    SUCCESS = "SUCCESS"
    ABORTED = "ABORTED"
    FAILURE = "FAILURE"

    @property
    def ended(self) -> bool:
        return self in (GridJobStatus.SUCCESS, GridJobStatus.ABORTED, GridJobStatus.FAILURE)


class RunStatus(StrEnum):
    """A pipeline run's (one cell's) status, as Orchest names it."""

    PENDING = "PENDING"
    STARTED = "STARTED"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    ABORTED = "ABORTED"

    @property
    def ended(self) -> bool:
        return self in (RunStatus.SUCCESS, RunStatus.FAILURE, RunStatus.ABORTED)


_DAGSTER_TO_RUN = {
    "QUEUED": RunStatus.PENDING,
    "NOT_STARTED": RunStatus.PENDING,
    "STARTING": RunStatus.PENDING,
    "MANAGED": RunStatus.PENDING,
    "STARTED": RunStatus.STARTED,
    "SUCCESS": RunStatus.SUCCESS,
    "FAILURE": RunStatus.FAILURE,
    "CANCELING": RunStatus.ABORTED,
    "CANCELED": RunStatus.ABORTED,
}


def run_status(dagster_status: str) -> RunStatus:
    """Dagster's run status (by name) → Orchest's."""
    return _DAGSTER_TO_RUN.get(dagster_status, RunStatus.PENDING)


def _time(value: datetime | None) -> str | None:
    return format_time(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class GridJobRecord:
    """One grid job (Orchest's ``Job``)."""

    id: str
    """32 hex digits; tags every run of the job."""
    name: str
    """Unique in the store; also the Dagster job's name."""
    title: str
    pipeline: Mapping[str, Any]
    """The pipeline as ``GridPipeline.to_json`` describes it (steps, defaults, files)."""
    grid: Mapping[str, Any]
    """The current ``ParameterGrid`` (JSON); later batches use it, earlier ones keep theirs."""
    grid_revision: int = 0
    schedule: str | None = None
    """Cron string; ``None`` for a one-off job."""
    start_at: datetime | None = None
    """A one-off job's start time (``None``: as soon as it is confirmed)."""
    status: GridJobStatus = GridJobStatus.DRAFT
    snapshot: Mapping[str, Any] | None = None
    max_retained_runs: int | None = None
    allow_overlap: bool = True
    on_overlap: str = "skip"
    """With ``allow_overlap=False``: ``skip`` a tick while a batch is active, or ``queue`` it."""
    env: Mapping[str, str] = field(default_factory=dict)
    created: datetime
    updated: datetime
    schedule_anchor: datetime | None = None
    """Cron ticks at or before this time never run (confirmation, resume, cron edit)."""
    finished: datetime | None = None
    parent: str | None = None
    """The job this one was duplicated from."""
    revision: int = 0

    @property
    def is_cron(self) -> bool:
        return self.schedule is not None

    @property
    def prefix(self) -> str:
        """Where the job's records live (``layout.grid_job_dir``)."""
        return layout.grid_job_dir(self.name)

    @property
    def snapshot_commit(self) -> str | None:
        return None if self.snapshot is None else str(self.snapshot["commit"])

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "title": self.title,
            "pipeline": dict(self.pipeline),
            "grid": dict(self.grid),
            "grid_revision": self.grid_revision,
            "schedule": self.schedule,
            "start_at": _time(self.start_at),
            "status": self.status.value,
            "snapshot": None if self.snapshot is None else dict(self.snapshot),
            "max_retained_runs": self.max_retained_runs,
            "allow_overlap": self.allow_overlap,
            "on_overlap": self.on_overlap,
            "env": dict(self.env),
            "created": _time(self.created),
            "updated": _time(self.updated),
            "schedule_anchor": _time(self.schedule_anchor),
            "finished": _time(self.finished),
            "parent": self.parent,
            "revision": self.revision,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GridJobRecord:
        created = parse_time(data["created"])
        updated = parse_time(data["updated"])
        assert created is not None
        assert updated is not None
        return cls(
            id=data["id"],
            name=data["name"],
            title=data.get("title") or data["name"],
            pipeline=data["pipeline"],
            grid=data["grid"],
            grid_revision=int(data.get("grid_revision", 0)),
            schedule=data.get("schedule"),
            start_at=parse_time(data.get("start_at")),
            status=GridJobStatus(data["status"]),
            snapshot=data.get("snapshot"),
            max_retained_runs=data.get("max_retained_runs"),
            allow_overlap=bool(data.get("allow_overlap", True)),
            on_overlap=data.get("on_overlap", "skip"),
            env=dict(data.get("env") or {}),
            created=created,
            updated=updated,
            schedule_anchor=parse_time(data.get("schedule_anchor")),
            finished=parse_time(data.get("finished")),
            parent=data.get("parent"),
            revision=int(data.get("revision", 0)),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchCell:
    """One run of a batch: which cell, under which key, with which job-wide run index."""

    cell: int
    key: str
    run_index: int


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchRecord:
    """One job run (Orchest's "job run"): a Dagster run per selected cell, one global id."""

    index: int
    global_id: str
    trigger: str
    """``once`` (a one-off job's run), ``cron`` or ``manual`` (run now)."""
    trigger_key: str
    """What made it (``cron:<tick time>``, ``request:<id>``): a trigger makes one batch only."""
    scheduled_time: datetime
    created: datetime
    grid_revision: int
    cells: tuple[BatchCell, ...]

    @property
    def run_index_end(self) -> int:
        """One past the last run index of the batch (the next batch's first)."""
        return self.cells[-1].run_index + 1 if self.cells else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "global_id": self.global_id,
            "trigger": self.trigger,
            "trigger_key": self.trigger_key,
            "scheduled_time": _time(self.scheduled_time),
            "created": _time(self.created),
            "grid_revision": self.grid_revision,
            "cells": [{"cell": c.cell, "key": c.key, "run_index": c.run_index} for c in self.cells],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BatchRecord:
        scheduled = parse_time(data["scheduled_time"])
        created = parse_time(data["created"])
        assert scheduled is not None
        assert created is not None
        return cls(
            index=int(data["index"]),
            global_id=data["global_id"],
            trigger=data["trigger"],
            trigger_key=data["trigger_key"],
            scheduled_time=scheduled,
            created=created,
            grid_revision=int(data.get("grid_revision", 0)),
            cells=tuple(
                BatchCell(cell=int(c["cell"]), key=c["key"], run_index=int(c["run_index"]))
                for c in data["cells"]
            ),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RunState:
    """The last seen state of one run of a batch."""

    run_id: str
    status: RunStatus
    deleted: bool = False
    """Removed by retention; the status stays so a one-off job's outcome does not change."""

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "status": self.status.value, "deleted": self.deleted}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunState:
        return cls(
            run_id=data["run_id"],
            status=RunStatus(data["status"]),
            deleted=bool(data.get("deleted")),
        )


def batch_status(batch: BatchRecord, runs: Mapping[int, RunState]) -> RunStatus:
    """A batch fails when any run fails, succeeds when all ended and none failed."""
    states = [runs[c.cell].status if c.cell in runs else RunStatus.PENDING for c in batch.cells]
    if any(s is RunStatus.FAILURE for s in states) and all(s.ended for s in states):
        return RunStatus.FAILURE
    if all(s.ended for s in states):
        succeeded = any(s is RunStatus.SUCCESS for s in states) or not states
        return RunStatus.SUCCESS if succeeded else RunStatus.ABORTED
    started = any(s is not RunStatus.PENDING for s in states)
    return RunStatus.STARTED if started else RunStatus.PENDING


def derive_status(
    record: GridJobRecord, batches: Sequence[tuple[BatchRecord, Mapping[int, RunState]]]
) -> GridJobStatus:
    """The job's status from its record and the states of its batches' runs (Orchest's rules)."""
    if record.status in (GridJobStatus.DRAFT, GridJobStatus.ABORTED) or record.status.ended:
        return record.status
    if record.is_cron:
        return record.status
    if not any(b.trigger == "once" for b, _ in batches):
        return GridJobStatus.PENDING
    states = [
        runs[c.cell].status if c.cell in runs else RunStatus.PENDING
        for b, runs in batches
        for c in b.cells
    ]
    if not all(s.ended for s in states):
        return GridJobStatus.STARTED
    if any(s is RunStatus.FAILURE for s in states):
        return GridJobStatus.FAILURE
    return GridJobStatus.SUCCESS
