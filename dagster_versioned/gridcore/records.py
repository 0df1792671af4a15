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

The job record is a revision log (``Store.records.log``, shared with the Pachyderm engine's job
records): each version stores its number under ``revision``, and versions written since the
log was shared also carry a random ``write`` token, which readers drop. The record shapes and
the status rules are ``jobrecords``; their names are re-exported here.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from dagster_versioned.errors import AlreadyExists, Conflict, JobNotFound
from dagster_versioned.gridcore.jobrecords import (
    BatchCell,
    BatchRecord,
    GridJobRecord,
    GridJobStatus,
    RunState,
    RunStatus,
    batch_status,
    derive_status,
    run_status,
)
from dagster_versioned.store import Store, layout
from dagster_versioned.store.commits import format_time, now, parse_time
from dagster_versioned.store.revlog import Revision, RevisionLog

ROOT = layout.GRID_JOBS
_CAS_ATTEMPTS = 100
"""Batch indices tried at most this often before ``Conflict``: far more than racing writers."""


def _dumps(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def _record(revision: Revision) -> GridJobRecord:
    """The job record a stored version holds (its number is the record's ``revision``)."""
    return GridJobRecord.from_json({**revision.value, "revision": revision.seq})


class GridJobStore:
    """Reads and writes grid-job records in a ``Store`` (no Dagster here)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.records = store.records

    # -- job records -----------------------------------------------------------------------

    def _log(self, name: str) -> RevisionLog:
        return self.records.log(
            layout.grid_job_dir(name),
            hint=layout.grid_job_hint(name),
            digits=layout.GRID_SEQ_DIGITS,
        )

    def create(self, record: GridJobRecord) -> GridJobRecord:
        """Create the record; ``AlreadyExists`` when the name is taken."""
        created = self._log(record.name).create(replace(record, revision=0).to_json())
        if created is None:
            raise AlreadyExists(f"grid job '{record.name}' already exists")
        return _record(created)

    def exists(self, name: str) -> bool:
        return self.records.exists(layout.grid_job_revision(name, 0))

    def get(self, name: str) -> GridJobRecord:
        latest = self._log(name).latest()
        if latest is None:
            raise JobNotFound(f"grid job '{name}' not found")
        return _record(latest)

    def list_jobs(self) -> list[GridJobRecord]:
        """Every grid job, newest first."""
        out = []
        for name in self.records.list(ROOT):
            try:
                out.append(self.get(name))
            except JobNotFound:
                continue
        return sorted(out, key=lambda r: r.created, reverse=True)

    def update(
        self, name: str, change: Callable[[GridJobRecord], GridJobRecord | None]
    ) -> GridJobRecord:
        """Apply ``change`` to the newest record by compare-and-swap; ``None`` keeps it as is.

        ``change`` may run several times (once per lost race), each time on the newest record.
        """

        def apply(current: Revision | None) -> dict[str, Any] | None:
            if current is None:
                raise JobNotFound(f"grid job '{name}' not found")
            record = _record(current)
            new = change(record)
            if new is None or new == record:
                return None
            return replace(new, revision=current.seq + 1, updated=now()).to_json()

        written = self._log(name).update(apply, what=f"grid job '{name}'")
        if written is None:  # pragma: no cover - ``apply`` refuses a missing record
            raise JobNotFound(f"grid job '{name}' not found")
        return _record(written)

    def delete(self, name: str) -> None:
        self.get(name)
        self.records.delete_tree(layout.grid_job_dir(name))

    # -- batches ---------------------------------------------------------------------------

    def batch_indices(self, name: str) -> list[int]:
        return sorted(int(n) for n in self.records.list(layout.grid_batches(name)) if n.isdigit())

    def batch(self, name: str, index: int) -> BatchRecord | None:
        data = self.records.read_json(layout.grid_batch(name, index))
        return None if data is None else BatchRecord.from_json(data)

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
            if self.records.create(layout.grid_batch(name, index), _dumps(batch.to_json())):
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
        data = self.records.read_json(layout.grid_batch_runs(name, index))
        if data is None:
            return {}
        return {int(k): RunState.from_json(v) for k, v in data.items()}

    def write_run_states(self, name: str, index: int, states: Mapping[int, RunState]) -> None:
        data = _dumps({str(k): v.to_json() for k, v in sorted(states.items())})
        self.records.put(layout.grid_batch_runs(name, index), data)

    # -- run-now requests and cron progress ------------------------------------------------

    def add_request(self, name: str, requested_by: str = "") -> str:
        request_id = f"{time.time_ns():020d}-{secrets.token_hex(4)}"
        data = _dumps({"id": request_id, "created": format_time(now()), "by": requested_by})
        self.records.put(layout.grid_request(name, request_id), data)
        return request_id

    def requests(self, name: str) -> list[str]:
        names = self.records.list(layout.grid_requests(name))
        return [n[:-5] for n in names if n.endswith(".json")]

    def remove_request(self, name: str, request_id: str) -> None:
        self.records.delete(layout.grid_request(name, request_id))

    def settled_upto(self, name: str) -> int:
        """The index up to which every batch has ended (``-1``: none yet)."""
        data = self.records.read_json(layout.grid_settled(name))
        return -1 if data is None else int(data["upto"])

    def set_settled_upto(self, name: str, index: int) -> None:
        self.records.put(layout.grid_settled(name), _dumps({"upto": index}))

    def last_cron_tick(self, name: str) -> datetime | None:
        data = self.records.read_json(layout.grid_cron(name))
        return None if data is None else parse_time(data["last_tick"])

    def set_last_cron_tick(self, name: str, tick: datetime) -> None:
        self.records.put(layout.grid_cron(name), _dumps({"last_tick": format_time(tick)}))

    def new_id(self) -> str:
        return secrets.token_hex(16)


__all__ = [
    "ROOT",
    "BatchCell",
    "BatchRecord",
    "GridJobRecord",
    "GridJobStatus",
    "GridJobStore",
    "RunState",
    "RunStatus",
    "batch_status",
    "derive_status",
    "run_status",
]
