"""Scheduling grid jobs: one-off at a time, cron batches, pause, run now, edits, retention,
overlap and duplicates. The job's sensor is evaluated with a sensor context at chosen times;
runs are recorded in the instance (scheduling does not depend on what runs do)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from dagster_versioned.errors import StateError
from dagster_versioned.gridcore.scheduling import next_tick
from dagster_versioned.gridcore.tags import BATCH_TAG, RUN_INDEX_TAG, TRIGGER_TAG
from dagster_versioned.grids import GridJobStatus, GridPipeline, GridStep, grid_job

from .helpers import evaluate, finish_run, load_module, record_runs, simple_pipeline, skip_message

EVERY_5 = "*/5 * * * *"


@pytest.fixture
def pipeline(project: Path) -> GridPipeline:
    return simple_pipeline(load_module(project / "steps.py"))


@pytest.fixture
def first_tick() -> datetime:
    """The first 5-minute tick after now: a cron job created now runs first then."""
    return next_tick(EVERY_5, datetime.now(UTC))


def lrs(job, batch) -> list:
    return [c.pipeline_parameters["lr"] for c in job.cells_of(batch)]


def test_a_future_one_off_job_waits_then_runs_exactly_one_batch(
    pipeline: GridPipeline, instance: dg.DagsterInstance, project: Path, job_kwargs: dict
) -> None:
    start = datetime.now(UTC) + timedelta(hours=1)
    job = grid_job(
        "later",
        pipeline,
        {"pipeline_parameters": {"lr": [1, 2]}},
        at=start,
        snapshot=project,
        **job_kwargs,
    )
    assert job.status(instance) is GridJobStatus.PENDING
    assert "waiting until" in skip_message(job, instance, at=start - timedelta(minutes=30))
    first = evaluate(job, instance, at=start + timedelta(seconds=1))
    assert len(first) == 2
    again = evaluate(job, instance, at=start + timedelta(seconds=40))
    assert [r.run_key for r in again] == [r.run_key for r in first]  # same batch, same keys
    record_runs(job, instance, first)
    assert evaluate(job, instance, at=start + timedelta(minutes=5)) == []
    assert len(job.batches()) == 1
    assert job.status(instance) is GridJobStatus.SUCCESS


def test_cron_ticks_give_batches_with_increasing_indices_and_the_job_stays_started(
    pipeline: GridPipeline,
    instance: dg.DagsterInstance,
    project: Path,
    job_kwargs: dict,
    first_tick: datetime,
) -> None:
    job = grid_job(
        "cron",
        pipeline,
        {"pipeline_parameters": {"lr": [1, 2]}},
        EVERY_5,
        snapshot=project,
        **job_kwargs,
    )
    assert job.status(instance) is GridJobStatus.STARTED
    assert evaluate(job, instance, at=first_tick - timedelta(seconds=1)) == []
    runs = record_runs(job, instance, evaluate(job, instance, at=first_tick + timedelta(seconds=2)))
    runs += record_runs(
        job, instance, evaluate(job, instance, at=first_tick + timedelta(minutes=5))
    )
    assert [(r.tags[BATCH_TAG], r.tags[RUN_INDEX_TAG]) for r in runs] == [
        ("0", "0"),
        ("0", "1"),
        ("1", "2"),
        ("1", "3"),
    ]
    assert {r.tags[TRIGGER_TAG] for r in runs} == {"cron"}
    assert [b.scheduled_time for b in job.batches()] == [
        first_tick,
        first_tick + timedelta(minutes=5),
    ]
    assert job.status(instance) is GridJobStatus.STARTED
    assert job.jobs.settled_upto("cron") == 1  # later ticks skip both finished batches


def test_missed_ticks_collapse_into_one_batch_and_the_next_runs_at_the_next_tick(
    pipeline: GridPipeline,
    instance: dg.DagsterInstance,
    project: Path,
    job_kwargs: dict,
    first_tick: datetime,
) -> None:
    job = grid_job("missed", pipeline, schedule=EVERY_5, snapshot=project, **job_kwargs)
    record_runs(job, instance, evaluate(job, instance, at=first_tick))
    back = first_tick + timedelta(minutes=31)  # the daemon was down for six ticks
    record_runs(job, instance, evaluate(job, instance, at=back))
    batches = job.batches()
    assert len(batches) == 2
    assert batches[1].scheduled_time == first_tick + timedelta(minutes=30)
    assert evaluate(job, instance, at=back + timedelta(minutes=2)) == []
    assert len(evaluate(job, instance, at=first_tick + timedelta(minutes=35))) == 1


def test_a_paused_job_launches_nothing_and_resuming_waits_for_the_next_tick(
    pipeline: GridPipeline,
    instance: dg.DagsterInstance,
    project: Path,
    job_kwargs: dict,
    first_tick: datetime,
) -> None:
    job = grid_job("pausing", pipeline, schedule=EVERY_5, snapshot=project, **job_kwargs)
    job.clock = lambda: first_tick - timedelta(seconds=10)
    assert job.pause().status is GridJobStatus.PAUSED
    assert "PAUSED" in skip_message(job, instance, at=first_tick + timedelta(seconds=1))
    assert "PAUSED" in skip_message(job, instance, at=first_tick + timedelta(minutes=5, seconds=1))
    resumed_at = first_tick + timedelta(minutes=7)
    job.clock = lambda: resumed_at
    assert job.resume().status is GridJobStatus.STARTED
    assert evaluate(job, instance, at=resumed_at + timedelta(seconds=1)) == []
    requests = evaluate(job, instance, at=first_tick + timedelta(minutes=10, seconds=1))
    assert len(requests) == 1
    assert job.batches()[0].scheduled_time == first_tick + timedelta(minutes=10)


def test_run_now_on_a_waiting_one_off_job_keeps_it_pending_until_its_time(
    pipeline: GridPipeline, instance: dg.DagsterInstance, project: Path, job_kwargs: dict
) -> None:
    start = datetime.now(UTC) + timedelta(hours=1)
    job = grid_job("try_first", pipeline, at=start, snapshot=project, **job_kwargs)
    job.run_now()
    record_runs(job, instance, evaluate(job, instance, at=start - timedelta(minutes=50)))
    assert job.status(instance) is GridJobStatus.PENDING
    assert [b.trigger for b in job.batches()] == ["manual"]
    record_runs(job, instance, evaluate(job, instance, at=start))
    assert [b.trigger for b in job.batches()] == ["manual", "once"]
    assert job.status(instance) is GridJobStatus.SUCCESS
    with pytest.raises(StateError, match="not in a state which allows"):
        job.run_now()


def test_pausing_a_one_off_job_is_rejected(
    pipeline: GridPipeline, project: Path, job_kwargs: dict
) -> None:
    job = grid_job(
        "oneoff",
        pipeline,
        at=datetime.now(UTC) + timedelta(hours=1),
        snapshot=project,
        **job_kwargs,
    )
    with pytest.raises(StateError, match="only cron jobs"):
        job.pause()


def test_run_now_on_a_paused_job_runs_one_batch_and_the_job_stays_paused(
    pipeline: GridPipeline,
    instance: dg.DagsterInstance,
    project: Path,
    job_kwargs: dict,
    first_tick: datetime,
) -> None:
    job = grid_job(
        "manual",
        pipeline,
        {"pipeline_parameters": {"lr": [1, 2]}},
        EVERY_5,
        snapshot=project,
        **job_kwargs,
    )
    job.pause()
    job.run_now()
    requests = evaluate(job, instance, at=first_tick - timedelta(seconds=30))
    assert [r.tags[TRIGGER_TAG] for r in requests] == ["manual", "manual"]
    record_runs(job, instance, requests)
    assert job.status(instance) is GridJobStatus.PAUSED
    assert evaluate(job, instance, at=first_tick + timedelta(seconds=1)) == []
    assert len(job.batches()) == 1


def test_editing_a_cron_job_changes_later_batches_and_earlier_runs_keep_their_parameters(
    pipeline: GridPipeline,
    instance: dg.DagsterInstance,
    project: Path,
    job_kwargs: dict,
    first_tick: datetime,
) -> None:
    job = grid_job(
        "edited",
        pipeline,
        {"pipeline_parameters": {"lr": [1, 2]}},
        EVERY_5,
        snapshot=project,
        **job_kwargs,
    )
    old_runs = record_runs(job, instance, evaluate(job, instance, at=first_tick))
    job.update(grid={"pipeline_parameters": {"lr": [3, 4, 5]}})
    new_runs = record_runs(
        job, instance, evaluate(job, instance, at=first_tick + timedelta(minutes=5))
    )
    first, second = job.batches()
    assert lrs(job, first) == [1, 2]
    assert lrs(job, second) == [3, 4, 5]
    assert len(new_runs) == 3
    config = instance.get_run_by_id(old_runs[0].run_id).run_config
    cell = json.loads(config["resources"]["dv_grid_cell_edited"]["config"]["cell"])
    assert cell["pipeline_parameters"] == {"lr": 1}
    job.update(deselect=[0])
    assert [c.pipeline_parameters["lr"] for c in job.grid.cells] == [4, 5]
    hourly = job.update(schedule="0 * * * *")
    assert hourly.schedule == "0 * * * *"
    top = next_tick("0 * * * *", first_tick + timedelta(minutes=5))
    assert evaluate(job, instance, at=top - timedelta(minutes=1)) == []
    assert len(evaluate(job, instance, at=top)) == 2


def test_editing_a_started_one_off_job_is_rejected(
    pipeline: GridPipeline, instance: dg.DagsterInstance, project: Path, job_kwargs: dict
) -> None:
    job = grid_job("fixed", pipeline, snapshot=project, **job_kwargs)
    evaluate(job, instance)
    with pytest.raises(StateError, match="duplicate it"):
        job.update(grid={"pipeline_parameters": {"lr": [3]}})


def test_retention_keeps_the_newest_finished_runs_and_never_a_running_one(
    pipeline: GridPipeline,
    instance: dg.DagsterInstance,
    project: Path,
    job_kwargs: dict,
    first_tick: datetime,
) -> None:
    job = grid_job(
        "retained", pipeline, schedule=EVERY_5, max_retained_runs=2, snapshot=project, **job_kwargs
    )
    runs = []
    for i in range(5):
        requests = evaluate(job, instance, at=first_tick + timedelta(minutes=5 * i))
        status = dg.DagsterRunStatus.STARTED if i == 0 else dg.DagsterRunStatus.SUCCESS
        runs += record_runs(job, instance, requests, status)
    last = first_tick + timedelta(minutes=20, seconds=30)
    assert "retention deleted" in skip_message(job, instance, at=last)
    left = {r.tags[RUN_INDEX_TAG] for r in instance.get_runs()}
    assert left == {"0", "3", "4"}  # run 0 is still running
    finish_run(instance, runs[0], dg.DagsterRunStatus.SUCCESS)
    skip_message(job, instance, at=last)
    assert {r.tags[RUN_INDEX_TAG] for r in instance.get_runs()} == {"3", "4"}


@pytest.mark.parametrize("on_overlap", ["skip", "queue"])
def test_without_overlap_a_tick_during_an_active_batch_is_skipped_or_queued(
    pipeline: GridPipeline,
    instance: dg.DagsterInstance,
    project: Path,
    job_kwargs: dict,
    first_tick: datetime,
    on_overlap: str,
) -> None:
    job = grid_job(
        f"overlap_{on_overlap}",
        pipeline,
        schedule=EVERY_5,
        allow_overlap=False,
        on_overlap=on_overlap,
        snapshot=project,
        **job_kwargs,
    )
    (run,) = record_runs(
        job, instance, evaluate(job, instance, at=first_tick), dg.DagsterRunStatus.STARTED
    )
    second = first_tick + timedelta(minutes=5)
    message = skip_message(job, instance, at=second)
    assert ("skipped" if on_overlap == "skip" else "waits") in message
    finish_run(instance, run, dg.DagsterRunStatus.SUCCESS)
    late = evaluate(job, instance, at=second + timedelta(minutes=1))
    if on_overlap == "skip":
        assert late == []
        assert len(evaluate(job, instance, at=second + timedelta(minutes=5))) == 1
        assert job.batches()[1].scheduled_time == second + timedelta(minutes=5)
    else:
        assert len(late) == 1
        assert job.batches()[1].scheduled_time == second


def test_overlapping_batches_are_allowed_by_default(
    pipeline: GridPipeline,
    instance: dg.DagsterInstance,
    project: Path,
    job_kwargs: dict,
    first_tick: datetime,
) -> None:
    job = grid_job("overlapping", pipeline, schedule=EVERY_5, snapshot=project, **job_kwargs)
    record_runs(job, instance, evaluate(job, instance, at=first_tick), dg.DagsterRunStatus.STARTED)
    assert len(evaluate(job, instance, at=first_tick + timedelta(minutes=5))) == 1


def test_duplicating_a_job_gives_a_new_id_snapshot_and_reconciled_parameters(
    project: Path, instance: dg.DagsterInstance, job_kwargs: dict
) -> None:
    steps = load_module(project / "steps.py")
    old = GridPipeline(
        name="train",
        parameters={"lr": 0.1},
        steps=[GridStep(name="fit", fn=steps.fit, parameters={"b": "x"})],
    )
    job = grid_job(
        "original",
        old,
        {"pipeline_parameters": {"lr": [1, 2]}, "fit": {"b": ["x", "y"]}},
        snapshot=project,
        **job_kwargs,
    )
    record_runs(job, instance, evaluate(job, instance))
    assert job.status(instance) is GridJobStatus.SUCCESS
    (project / "steps.py").write_text((project / "steps.py").read_text() + "\n# edited\n")
    new = GridPipeline(
        name="train",
        parameters={"lr": 0.1, "c": 0},
        steps=[GridStep(name="fit", fn=steps.fit)],
    )
    copy = job.duplicate(pipeline=new)
    record, source = copy.record, job.record
    assert copy.name == "original_copy"
    assert record.title == "Duplicate of original"
    assert record.id != source.id
    assert record.parent == source.id
    assert record.snapshot_commit != source.snapshot_commit
    assert record.status is GridJobStatus.DRAFT
    assert [dict(c.pipeline_parameters) for c in copy.grid.cells] == [
        {"lr": 1, "c": 0},
        {"lr": 2, "c": 0},
    ]
    assert all(c.step_parameters == {"fit": {}} for c in copy.grid.cells)
    assert evaluate(copy, instance) == []  # a draft waits for confirmation
    copy.confirm()
    assert len(evaluate(copy, instance)) == 2
