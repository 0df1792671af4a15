"""One tick of a grid job's sensor: sync states, cancel, retention, new batches, run requests.

A batch is created by exclusive create of its index (``GridJobStore.create_batch``), and a
trigger (``once``, ``cron:<tick>``, ``request:<id>``) that already made the previous batch makes
no other, so a crash between creating a batch and recording the tick never doubles a batch.
Cells of recent batches that have no run yet are requested again on every tick: run keys make
that idempotent (the daemon launches a run key once), and it covers a daemon that died between
a tick and its launches.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import dagster as dg

from dagster_versioned.gridcore.cells import GridCell
from dagster_versioned.gridcore.grid import ParameterGrid
from dagster_versioned.gridcore.keys import dynamic_partitions_name, load_cell
from dagster_versioned.gridcore.records import (
    BatchCell,
    BatchRecord,
    GridJobRecord,
    GridJobStatus,
    GridJobStore,
    derive_status,
)
from dagster_versioned.gridcore.scheduling import Due, plan_tick
from dagster_versioned.gridcore.tags import (
    BATCH_TAG,
    CELL_TAG,
    GLOBAL_ID_TAG,
    GRID_JOB_NAME_TAG,
    GRID_JOB_TAG,
    RUN_INDEX_TAG,
    SNAPSHOT_TAG,
    TRIGGER_TAG,
    run_key,
)
from dagster_versioned.grids.runs import Batches, active, apply_retention, cancel_runs, sync
from dagster_versioned.grids.steps import resource_keys
from dagster_versioned.store import Store
from dagster_versioned.store.commits import new_commit_id, now

RELAUNCH_WINDOW = 20
"""Newest batches whose cells without a run are requested again."""


def run_tick(
    store: Store, name: str, instance: dg.DagsterInstance, when: datetime, workdir_root: Path
) -> dg.SensorResult | dg.SkipReason:
    """Decide and prepare one tick of grid job ``name`` at time ``when``."""
    jobs = GridJobStore(store)
    record, batches = sync(jobs, jobs.get(name), instance)
    notes: list[str] = []
    if record.status is GridJobStatus.ABORTED and cancel_runs(instance, record):
        notes.append("aborted the job's remaining runs")
        record, batches = sync(jobs, record, instance)
    deleted = apply_retention(jobs, record, instance, batches, workdir_root)
    if deleted:
        notes.append(f"retention deleted {len(deleted)} run(s)")
    plan = plan_tick(
        record,
        status=derive_status(record, batches),
        has_once_batch=any(b.trigger == "once" for b, _ in batches),
        active=active(batches),
        requests=jobs.requests(name),
        last_tick=jobs.last_cron_tick(name),
        now=when,
    )
    for request in plan.dropped_requests:
        jobs.remove_request(name, request)
    created: list[tuple[BatchRecord, list[GridCell]]] = []
    for due in plan.batches:
        made = create_batch(jobs, record, due)
        if made is not None:
            created.append(made)
        if due.request is not None:
            jobs.remove_request(name, due.request)
    if plan.handled_tick is not None:
        jobs.set_last_cron_tick(name, plan.handled_tick)
    requests = run_requests(store, record, created, batches)
    if requests:
        keys = sorted({r.partition_key for r in requests if r.partition_key})
        instance.add_dynamic_partitions(dynamic_partitions_name(name), keys)
        return dg.SensorResult(run_requests=requests)
    return dg.SkipReason("; ".join(notes + plan.notes) or "nothing to start")


def create_batch(
    jobs: GridJobStore, record: GridJobRecord, due: Due
) -> tuple[BatchRecord, list[GridCell]] | None:
    """The next batch for ``due`` with the job's current cells; ``None`` if it already exists."""
    cells = ParameterGrid.from_json(record.grid).require_cells()

    def make(index: int, previous: BatchRecord | None) -> BatchRecord | None:
        if previous is not None and previous.trigger_key == due.trigger_key:
            return None  # this trigger already has its batch
        base = previous.run_index_end if previous is not None else 0
        return BatchRecord(
            index=index,
            global_id=new_commit_id(),
            trigger=due.trigger,
            trigger_key=due.trigger_key,
            scheduled_time=due.scheduled_time,
            created=now(),
            grid_revision=record.grid_revision,
            cells=tuple(
                BatchCell(cell=c.index, key=c.key, run_index=base + i) for i, c in enumerate(cells)
            ),
        )

    batch = jobs.create_batch(record.name, make)
    return None if batch is None else (batch, cells)


def run_requests(
    store: Store,
    record: GridJobRecord,
    created: list[tuple[BatchRecord, list[GridCell]]],
    batches: Batches,
) -> list[dg.RunRequest]:
    """Requests for the new batches' cells, and for recent cells that have no run yet."""
    out = [
        run_request(record, batch, bc, cell)
        for batch, cells in created
        for bc, cell in zip(batch.cells, cells, strict=True)
    ]
    if record.status.ended or record.status is GridJobStatus.DRAFT:
        return out
    for batch, states in batches[-RELAUNCH_WINDOW:]:
        for bc in batch.cells:
            if bc.cell not in states:
                cell = load_cell(store, record.prefix, bc.key, bc.cell)
                out.append(run_request(record, batch, bc, cell))
    return out


def run_request(
    record: GridJobRecord, batch: BatchRecord, bc: BatchCell, cell: GridCell
) -> dg.RunRequest:
    """One cell's run: its partition, its parameters as run config, and the job's tags."""
    _, cell_key = resource_keys(record.name)
    tags = {
        GRID_JOB_TAG: record.id,
        GRID_JOB_NAME_TAG: record.name,
        BATCH_TAG: str(batch.index),
        CELL_TAG: str(bc.cell),
        RUN_INDEX_TAG: str(bc.run_index),
        GLOBAL_ID_TAG: batch.global_id,
        TRIGGER_TAG: batch.trigger,
    }
    if record.snapshot_commit:
        tags[SNAPSHOT_TAG] = record.snapshot_commit
    return dg.RunRequest(
        run_key=run_key(record.id, batch.index, bc.cell),
        job_name=record.name,
        partition_key=bc.key,
        run_config={"resources": {cell_key: {"config": {"cell": json.dumps(cell.to_json())}}}},
        tags=tags,
    )
