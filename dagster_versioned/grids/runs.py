"""A grid job's Dagster runs: their states in the store, cancellation, retention.

Statuses come from the Dagster runs of the job (found by the ``grid_job`` tag) and are copied
into each batch's ``runs.json``, so ``dvctl`` shows them without Dagster and a run removed by
retention keeps its outcome.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import dagster as dg

from dagster_versioned.gridcore.records import (
    BatchRecord,
    GridJobRecord,
    GridJobStatus,
    GridJobStore,
    RunState,
    derive_status,
    run_status,
)
from dagster_versioned.gridcore.snapshot import remove_checkout
from dagster_versioned.gridcore.tags import BATCH_TAG, CELL_TAG, GRID_JOB_TAG, RUN_INDEX_TAG
from dagster_versioned.store.commits import now

RUN_KEY_TAG = "dagster/run_key"
_ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]

Batches = list[tuple[BatchRecord, dict[int, RunState]]]


def job_runs(instance: dg.DagsterInstance, record: GridJobRecord) -> list[dg.DagsterRun]:
    """Every Dagster run of the job that still exists, oldest first."""
    runs = instance.get_runs(dg.RunsFilter(tags={GRID_JOB_TAG: record.id}))
    return sorted(runs, key=lambda r: int(r.tags.get(RUN_INDEX_TAG, "0")))


def settled(batch: BatchRecord, states: Mapping[int, RunState]) -> bool:
    """Every run of the batch was launched and has ended."""
    return all(c.cell in states and states[c.cell].status.ended for c in batch.cells)


def _batch_runs(
    instance: dg.DagsterInstance, record: GridJobRecord, index: int
) -> dict[int, RunState]:
    records = instance.get_run_records(
        dg.RunsFilter(tags={GRID_JOB_TAG: record.id, BATCH_TAG: str(index)})
    )
    seen: dict[int, RunState] = {}
    for rec in sorted(records, key=lambda r: r.create_timestamp):  # a re-execution wins
        run = rec.dagster_run
        with contextlib.suppress(KeyError, ValueError):
            cell = int(run.tags[CELL_TAG])
            seen[cell] = RunState(run_id=run.run_id, status=run_status(run.status.value))
    return seen


def sync(
    jobs: GridJobStore, record: GridJobRecord, instance: dg.DagsterInstance | None
) -> tuple[GridJobRecord, Batches]:
    """Copy run states into the store and settle a one-off job's end state.

    Returns the batches a tick needs: every batch of a one-off job; for a cron job the batches
    after the settled prefix (all runs ended, kept in ``settled.json``) and the newest one, so
    a long-lived cron job costs a tick the batches still in flight, not its whole history.
    Without an instance, the states last copied are used (what ``dvctl`` sees).
    """
    indices = jobs.batch_indices(record.name)
    floor = jobs.settled_upto(record.name) + 1 if record.is_cron else 0
    if indices:
        floor = min(floor, indices[-1])
    out: Batches = []
    prefix = floor - 1
    for index in (i for i in indices if i >= floor):
        batch = jobs.batch(record.name, index)
        if batch is None:
            continue
        stored = jobs.run_states(record.name, index)
        merged = dict(stored)
        if instance is not None and not settled(batch, stored):
            for cell, state in _batch_runs(instance, record, index).items():
                old = stored.get(cell)
                if old is None or (old.run_id, old.status) != (state.run_id, state.status):
                    merged[cell] = state
            if merged != stored:
                jobs.write_run_states(record.name, index, merged)
        if prefix == index - 1 and settled(batch, merged):
            prefix = index
        out.append((batch, merged))
    if record.is_cron and prefix >= floor:
        jobs.set_settled_upto(record.name, prefix)
    status = derive_status(record, out)
    if status.ended and not record.status.ended and not record.is_cron:

        def settle(current: GridJobRecord) -> GridJobRecord | None:
            if current.status.ended or current.status is GridJobStatus.ABORTED:
                return None
            return replace(current, status=status, finished=now())

        record = jobs.update(record.name, settle)
    return record, out


def active(batches: Batches) -> bool:
    """Whether any batch still has a run that is not launched or not ended."""
    return any(
        c.cell not in states or not states[c.cell].status.ended
        for batch, states in batches
        for c in batch.cells
    )


def cancel_runs(instance: dg.DagsterInstance, record: GridJobRecord) -> list[str]:
    """Abort every queued or running run of the job; returns their run ids.

    Queued runs are taken off the queue; running ones are terminated through the run
    coordinator, and marked canceled when nothing can terminate them (a run whose process is
    gone, or one executed in-process), as the UI's force-termination does.
    """
    canceled = []
    runs = instance.get_runs(dg.RunsFilter(tags={GRID_JOB_TAG: record.id}, statuses=_ACTIVE))
    for run in runs:
        terminating = False
        with contextlib.suppress(Exception):
            terminating = bool(instance.run_coordinator.cancel_run(run.run_id))
        current = instance.get_run_by_id(run.run_id)
        stuck = current is not None and (
            current.status in _ACTIVE
            or (current.status is dg.DagsterRunStatus.CANCELING and not terminating)
        )
        if current is not None and stuck:
            instance.report_run_canceled(current, message="canceled with its grid job")
        canceled.append(run.run_id)
    return canceled


def apply_retention(
    jobs: GridJobStore,
    record: GridJobRecord,
    instance: dg.DagsterInstance,
    batches: Batches,
    workdir: Path,
) -> list[str]:
    """Delete finished runs beyond the newest ``max_retained_runs`` (never a running one).

    Orchest's rule: a run in an end state goes when its run index is at most
    ``total - 1 - max``, ``total`` counting every run ever scheduled; its working copy goes too.
    """
    keep = record.max_retained_runs
    if keep is None or not batches:
        return []
    total = batches[-1][0].run_index_end
    threshold = total - 1 - keep
    deleted: list[tuple[str, int]] = []
    for run in job_runs(instance, record):
        index = int(run.tags.get(RUN_INDEX_TAG, "-1"))
        if index > threshold or not run.is_finished:
            continue
        instance.delete_run(run.run_id)
        remove_checkout(workdir / record.name / run.run_id)
        deleted.append((run.run_id, int(run.tags.get(BATCH_TAG, "-1"))))
    by_batch: dict[int, set[str]] = {}
    for run_id, index in deleted:
        by_batch.setdefault(index, set()).add(run_id)
    for index, gone in by_batch.items():
        states = jobs.run_states(record.name, index)
        marked = {c: replace(s, deleted=True) for c, s in states.items() if s.run_id in gone}
        if marked:
            jobs.write_run_states(record.name, index, {**states, **marked})
        for batch, current in batches:
            if batch.index == index:
                current.update(marked)
    return [run_id for run_id, _ in deleted]


def launch_in_process(
    instance: dg.DagsterInstance,
    job_def: dg.JobDefinition,
    requests: Sequence[dg.RunRequest],
    *,
    raise_on_error: bool = False,
) -> list[dg.ExecuteInProcessResult]:
    """Execute run requests one after the other in this process, as a daemon would launch them.

    A request whose run key already has a run is skipped, as the daemon does. Meant for tests,
    notebooks and machines without a daemon.
    """
    results = []
    for request in requests:
        tags: dict[str, Any] = dict(request.tags)
        if request.run_key:
            existing = instance.get_runs(
                dg.RunsFilter(tags={RUN_KEY_TAG: request.run_key}), limit=1
            )
            if existing:
                continue
            tags[RUN_KEY_TAG] = request.run_key
        results.append(
            job_def.execute_in_process(
                run_config=_plain(request.run_config),
                partition_key=request.partition_key,
                tags=tags,
                instance=instance,
                raise_on_error=raise_on_error,
            )
        )
    return results


def _plain(config: Any) -> Mapping[str, Any] | None:
    if config is None:
        return None
    if isinstance(config, Mapping):
        return config
    to_dict = getattr(config, "to_config_dict", None)
    return to_dict() if callable(to_dict) else None
