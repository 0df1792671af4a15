"""Grid-job records in the store, so ``dvctl`` reads them without Dagster.

Layout under the store root::

    gridjobs/<name>/revisions/<seq>.json    every version of the job record; version N+1 is made
                                            with exclusive create, so two writers (the sensor and
                                            a user pausing) never lose each other's change
    gridjobs/<name>/job.json                copy of the newest revision (a read hint)
    gridjobs/<name>/cells/<key>.json        partition key → cell (immutable)
    gridjobs/<name>/batches/<index>/batch.json   one job run (batch): created once, exclusively
    gridjobs/<name>/batches/<index>/runs.json    its runs' last seen states (the sensor writes)
    gridjobs/<name>/requests/<id>.json      "run now" requests waiting for the sensor
    gridjobs/<name>/cron.json               the last cron tick the sensor handled
    gridjobs/<name>/settled.json            batches up to this index have all ended (cron jobs)

Statuses follow Orchest: a job is DRAFT until confirmed; a one-off job is PENDING until its
batch exists, STARTED while any run is pending or running, then SUCCESS, or FAILURE if any run
failed (ABORTED runs do not fail it); a cron job is STARTED or PAUSED until it is ABORTED.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from dagster_versioned.errors import AlreadyExists, Conflict, JobNotFound
from dagster_versioned.store import Store
from dagster_versioned.store.commits import format_time, now, parse_time

ROOT = "gridjobs"
_CAS_ATTEMPTS = 100


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
        return f"{ROOT}/{self.name}"

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


def _dumps(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


class GridJobStore:
    """Reads and writes grid-job records in a ``Store`` (no Dagster here)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.backend = store.backend

    # -- job records -----------------------------------------------------------------------

    def create(self, record: GridJobRecord) -> GridJobRecord:
        """Create the record; ``AlreadyExists`` when the name is taken."""
        data = _dumps(replace(record, revision=0).to_json())
        if not self.backend.create(f"{record.prefix}/revisions/{0:08d}.json", data):
            raise AlreadyExists(f"grid job '{record.name}' already exists")
        self.backend.write(f"{record.prefix}/job.json", data)
        return replace(record, revision=0)

    def exists(self, name: str) -> bool:
        return self.backend.exists(f"{ROOT}/{name}/revisions/{0:08d}.json")

    def get(self, name: str) -> GridJobRecord:
        hint = self.backend.read_or_none(f"{ROOT}/{name}/job.json")
        if hint is None:
            hint = self.backend.read_or_none(f"{ROOT}/{name}/revisions/{0:08d}.json")
            if hint is None:
                raise JobNotFound(f"grid job '{name}' not found")
        record = GridJobRecord.from_json(json.loads(hint))
        while True:  # the hint may be stale: probe the next revisions
            nxt = f"{ROOT}/{name}/revisions/{record.revision + 1:08d}.json"
            newer = self.backend.read_or_none(nxt)
            if newer is None:
                return record
            record = GridJobRecord.from_json(json.loads(newer))

    def list_jobs(self) -> list[GridJobRecord]:
        """Every grid job, newest first."""
        out = []
        for name in self.backend.listdir(ROOT):
            try:
                out.append(self.get(name))
            except JobNotFound:
                continue
        return sorted(out, key=lambda r: r.created, reverse=True)

    def update(
        self, name: str, change: Callable[[GridJobRecord], GridJobRecord | None]
    ) -> GridJobRecord:
        """Apply ``change`` to the newest record by compare-and-swap; ``None`` keeps it as is."""
        for _ in range(_CAS_ATTEMPTS):
            current = self.get(name)
            new = change(current)
            if new is None or new == current:
                return current
            new = replace(new, revision=current.revision + 1, updated=now())
            data = _dumps(new.to_json())
            if self.backend.create(f"{current.prefix}/revisions/{new.revision:08d}.json", data):
                self.backend.write(f"{current.prefix}/job.json", data)
                return new
            time.sleep(0.005)
        read = current.revision
        found = self.get(name).revision
        raise Conflict(
            f"could not update grid job '{name}': other writers changed it first "
            f"{_CAS_ATTEMPTS} times (last read revision {read}, now {found}); "
            "too many concurrent writers",
            expected=read,
            got=found,
        )

    def delete(self, name: str) -> None:
        self.get(name)
        self.backend.delete_tree(f"{ROOT}/{name}")

    # -- batches ---------------------------------------------------------------------------

    def batch_indices(self, name: str) -> list[int]:
        return sorted(int(n) for n in self.backend.listdir(f"{ROOT}/{name}/batches") if n.isdigit())

    def batch(self, name: str, index: int) -> BatchRecord | None:
        data = self.backend.read_or_none(f"{ROOT}/{name}/batches/{index:06d}/batch.json")
        return None if data is None else BatchRecord.from_json(json.loads(data))

    def batches(self, name: str) -> list[BatchRecord]:
        out = []
        for index in self.batch_indices(name):
            batch = self.batch(name, index)
            if batch is not None:
                out.append(batch)
        return out

    def batches_with_states(self, name: str) -> list[tuple[BatchRecord, dict[int, RunState]]]:
        """Every batch with its runs' last copied states (what ``dvctl`` shows)."""
        return [(b, self.run_states(name, b.index)) for b in self.batches(name)]

    def create_batch(
        self, name: str, make: Callable[[int, BatchRecord | None], BatchRecord | None]
    ) -> BatchRecord | None:
        """Create the next batch with ``make(index, previous)``; ``None`` from it creates none.

        The index is claimed by exclusive create; a writer that loses the race asks ``make``
        again with the winner as ``previous`` (it returns ``None`` if the winner already
        handled its trigger).
        """
        indices = self.batch_indices(name)
        index = indices[-1] + 1 if indices else 0
        previous = self.batch(name, index - 1) if index else None
        for _ in range(_CAS_ATTEMPTS):
            batch = make(index, previous)
            if batch is None:
                return None
            key = f"{ROOT}/{name}/batches/{index:06d}/batch.json"
            if self.backend.create(key, _dumps(batch.to_json())):
                return batch
            previous = self.batch(name, index)
            index += 1
        read = index - 2 if index > 1 else None  # the newest batch known when it last tried
        indices = self.batch_indices(name)
        found = indices[-1] if indices else None
        raise Conflict(
            f"could not create a batch of grid job '{name}': other writers took the next "
            f"batch index first {_CAS_ATTEMPTS} times (last tried {index - 1}; newest batch "
            f"last read {read}, now {found}); too many concurrent writers",
            expected=read,
            got=found,
        )

    def run_states(self, name: str, index: int) -> dict[int, RunState]:
        data = self.backend.read_or_none(f"{ROOT}/{name}/batches/{index:06d}/runs.json")
        if data is None:
            return {}
        return {int(k): RunState.from_json(v) for k, v in json.loads(data).items()}

    def write_run_states(self, name: str, index: int, states: Mapping[int, RunState]) -> None:
        data = _dumps({str(k): v.to_json() for k, v in sorted(states.items())})
        self.backend.write(f"{ROOT}/{name}/batches/{index:06d}/runs.json", data)

    # -- run-now requests and cron progress ------------------------------------------------

    def add_request(self, name: str, requested_by: str = "") -> str:
        request_id = f"{time.time_ns():020d}-{secrets.token_hex(4)}"
        data = _dumps({"id": request_id, "created": _time(now()), "by": requested_by})
        self.backend.write(f"{ROOT}/{name}/requests/{request_id}.json", data)
        return request_id

    def requests(self, name: str) -> list[str]:
        names = self.backend.listdir(f"{ROOT}/{name}/requests")
        return [n[:-5] for n in names if n.endswith(".json")]

    def remove_request(self, name: str, request_id: str) -> None:
        self.backend.delete(f"{ROOT}/{name}/requests/{request_id}.json")

    def settled_upto(self, name: str) -> int:
        """The index up to which every batch has ended (``-1``: none yet)."""
        data = self.backend.read_or_none(f"{ROOT}/{name}/settled.json")
        return -1 if data is None else int(json.loads(data)["upto"])

    def set_settled_upto(self, name: str, index: int) -> None:
        self.backend.write(f"{ROOT}/{name}/settled.json", _dumps({"upto": index}))

    def last_cron_tick(self, name: str) -> datetime | None:
        data = self.backend.read_or_none(f"{ROOT}/{name}/cron.json")
        return None if data is None else parse_time(json.loads(data)["last_tick"])

    def set_last_cron_tick(self, name: str, tick: datetime) -> None:
        self.backend.write(f"{ROOT}/{name}/cron.json", _dumps({"last_tick": _time(tick)}))

    def new_id(self) -> str:
        return secrets.token_hex(16)
