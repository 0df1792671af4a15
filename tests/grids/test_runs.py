"""Grid jobs that execute: parameters reach step code, end states, deselection, bad input."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import dagster as dg
import pytest

from dagster_versioned.errors import InvalidParameters, StateError
from dagster_versioned.gridcore.tags import (
    BATCH_TAG,
    CELL_TAG,
    GLOBAL_ID_TAG,
    GRID_JOB_TAG,
    SNAPSHOT_TAG,
)
from dagster_versioned.grids import GridJobStatus, GridPipeline, GridStep, ParameterGrid, grid_job
from dagster_versioned.store import Store

from .helpers import evaluate, load_module, outputs, record_runs, simple_pipeline


def test_a_pipeline_without_parameters_runs_exactly_once_and_helpers_return_defaults(
    project: Path, instance: dg.DagsterInstance, out: Path, job_kwargs: dict
) -> None:
    steps = load_module(project / "steps.py")
    pipeline = simple_pipeline(steps, pipeline_params={}, report={})
    job = grid_job("once", pipeline, snapshot=project, **job_kwargs)
    requests = evaluate(job, instance)
    assert len(requests) == 1
    assert requests[0].partition_key == "no_parameters"
    results = job.launch_in_process(instance, requests)
    assert [r.success for r in results] == [True]
    (fit,) = outputs(out, "fit")
    assert fit["x"] == 3  # get_pipeline_param("x", 3) with no such parameter
    assert fit["pipeline_params"] == {}
    assert job.status(instance) is GridJobStatus.SUCCESS


def test_parameters_reach_python_and_script_steps_with_same_names_kept_apart(
    project: Path, instance: dg.DagsterInstance, out: Path, job_kwargs: dict
) -> None:
    steps = load_module(project / "steps.py")
    pipeline = simple_pipeline(steps, fit={"lr": 1}, report={"level": 1})
    grid = {
        "pipeline_parameters": {"lr": [0.5, 2]},
        "fit": {"lr": [9]},
        "report": {"level": ["y"]},
    }
    job = grid_job("params", pipeline, grid, snapshot=project, **job_kwargs)
    requests = evaluate(job, instance)
    assert [r.partition_key for r in requests] == [
        "lr=0.5;fit.lr=9;report.level=y",
        "lr=2;fit.lr=9;report.level=y",
    ]
    job.launch_in_process(instance, requests[1:])
    (fit,) = outputs(out, "fit")
    assert (fit["lr"], fit["fit_lr"]) == (2, 9)
    assert fit["step_params"] == {"lr": 9}
    assert fit["pipeline_params"] == {"lr": 2}
    (report,) = outputs(out, "report")
    assert (report["lr"], report["level"]) == (2, "y")
    assert report["step_params"] == {"level": "y"}
    run = instance.get_run_by_id(
        next(iter(instance.get_runs(dg.RunsFilter(tags={GRID_JOB_TAG: job.id})))).run_id
    )
    assert run is not None
    config = run.run_config["resources"]["dv_grid_cell_params"]["config"]["cell"]
    assert json.loads(config)["pipeline_parameters"] == {"lr": 2}  # recorded with the run


def test_one_off_job_where_every_run_succeeds_ends_in_success_and_one_failure_fails_it(
    project: Path, instance: dg.DagsterInstance, job_kwargs: dict
) -> None:
    pipeline = GridPipeline(
        name="checks",
        parameters={"lr": 0.1},
        steps=[GridStep(name="check", script="check.sh", parameters={"level": 1})],
    )
    ok = grid_job("all_ok", pipeline, {"check": {"level": [1, 3]}}, snapshot=project, **job_kwargs)
    assert ok.status(instance) is GridJobStatus.PENDING
    requests = evaluate(ok, instance)
    assert ok.status(instance) is GridJobStatus.STARTED  # batch exists, runs not finished
    ok.launch_in_process(instance, requests)
    assert ok.status(instance) is GridJobStatus.SUCCESS

    bad = grid_job(
        "one_fails", pipeline, {"check": {"level": [1, 2, 3]}}, snapshot=project, **job_kwargs
    )
    requests = evaluate(bad, instance)
    results = bad.launch_in_process(instance, requests[:2])
    assert [r.success for r in results] == [True, False]
    assert bad.status(instance) is GridJobStatus.STARTED  # the third cell has not run yet
    bad.launch_in_process(instance, requests[2:])
    assert bad.status(instance) is GridJobStatus.FAILURE
    assert bad.record.status is GridJobStatus.FAILURE  # settled in the store for dvctl
    with pytest.raises(StateError):
        bad.update(grid={"check": {"level": [1]}})


def test_runs_cancelled_one_by_one_leave_a_one_off_job_successful(
    project: Path, instance: dg.DagsterInstance, job_kwargs: dict
) -> None:
    steps = load_module(project / "steps.py")
    job = grid_job(
        "cancelled_runs",
        simple_pipeline(steps),
        {"pipeline_parameters": {"lr": [1, 2, 3]}},
        snapshot=project,
        **job_kwargs,
    )
    runs = record_runs(job, instance, evaluate(job, instance), dg.DagsterRunStatus.NOT_STARTED)
    for run in runs:
        instance.report_run_canceled(run)
    assert job.status(instance) is GridJobStatus.SUCCESS


def test_cancelling_a_job_aborts_its_queued_and_running_runs(
    project: Path, instance: dg.DagsterInstance, job_kwargs: dict
) -> None:
    steps = load_module(project / "steps.py")
    job = grid_job(
        "cancel_me",
        simple_pipeline(steps),
        {"pipeline_parameters": {"lr": [1, 2, 3]}},
        snapshot=project,
        **job_kwargs,
    )
    requests = evaluate(job, instance)
    done = record_runs(job, instance, requests[:1], dg.DagsterRunStatus.SUCCESS)
    running = record_runs(job, instance, requests[1:2], dg.DagsterRunStatus.STARTED)
    waiting = record_runs(job, instance, requests[2:], dg.DagsterRunStatus.NOT_STARTED)
    record = job.cancel(instance)
    assert record.status is GridJobStatus.ABORTED
    statuses = {r.run_id: instance.get_run_by_id(r.run_id).status for r in done + running + waiting}
    assert statuses[done[0].run_id] is dg.DagsterRunStatus.SUCCESS
    assert statuses[running[0].run_id] is dg.DagsterRunStatus.CANCELED
    assert statuses[waiting[0].run_id] is dg.DagsterRunStatus.CANCELED
    assert job.status(instance) is GridJobStatus.ABORTED
    assert evaluate(job, instance) == []  # an aborted job starts nothing any more
    assert job.cancel(instance).status is GridJobStatus.ABORTED  # cancelling twice is a no-op


def test_deselected_cells_get_no_run_and_each_run_is_tagged_with_its_cell(
    project: Path, instance: dg.DagsterInstance, storage: str, job_kwargs: dict
) -> None:
    steps = load_module(project / "steps.py")
    pipeline = simple_pipeline(steps, fit={"b": "x"})
    grid = ParameterGrid(pipeline={"lr": [1, 2]}, steps={"fit": {"b": ["x", "y", "z"]}})
    job = grid_job("deselect", pipeline, grid.deselect(1, 4), snapshot=project, **job_kwargs)
    requests = evaluate(job, instance)
    assert [r.tags[CELL_TAG] for r in requests] == ["0", "2", "3", "5"]
    batch = job.batches()[0]
    for r in requests:
        assert r.tags[BATCH_TAG] == "0"
        assert r.tags[GRID_JOB_TAG] == job.id
        assert r.tags[GLOBAL_ID_TAG] == batch.global_id
        assert r.tags[SNAPSHOT_TAG] == job.record.snapshot_commit
        assert r.run_key == f"{job.id}:0:{r.tags[CELL_TAG]}"
    with pytest.raises(InvalidParameters, match="empty list of parameters"):
        grid_job("none_left", pipeline, grid.deselect(*range(6)), snapshot=project, **job_kwargs)
    assert not Store.open(storage).backend.exists("gridjobs/none_left/job.json")


@pytest.mark.parametrize(
    ("content", "key"),
    [
        ('{"pipeline_parameters": {"lr": 0.1}}', "pipeline_parameters.lr"),
        ('{"nope": {"lr": [1]}}', "nope"),
        ('{"pipeline_parameters": {"lr": [0.1,', ""),
    ],
)
def test_a_bad_parameters_file_creates_no_job_and_no_snapshot(
    project: Path, storage: str, job_kwargs: dict, content: str, key: str
) -> None:
    steps = load_module(project / "steps.py")
    path = project / "train.parameters.json"
    path.write_text(content)
    with pytest.raises(InvalidParameters) as caught:
        grid_job(
            "bad", simple_pipeline(steps), snapshot=project, **job_kwargs
        )  # file found by name
    assert str(path) in str(caught.value)
    assert key in str(caught.value)
    store = Store.open(storage)
    assert store.backend.listdir("gridjobs") == []
    assert [r.name for r in store.list_repo()] == []


NOTEBOOK = {
    "cells": [
        {
            "cell_type": "code",
            "execution_count": None,
            "metadata": {},
            "outputs": [],
            "source": [
                "import json, os, uuid\n",
                "from pathlib import Path\n",
                "from dagster_versioned import get_pipeline_param, get_step_param\n",
                "out = Path(os.environ['GRID_OUT'])\n",
                "out.mkdir(parents=True, exist_ok=True)\n",
                "seen = {'step': 'explore', 'lr': get_pipeline_param('lr'), "
                "'depth': get_step_param('depth'), 'cwd': os.getcwd()}\n",
                "(out / f'explore-{uuid.uuid4().hex}.json').write_text(json.dumps(seen))\n",
            ],
        }
    ],
    "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
    },
    "nbformat": 4,
    "nbformat_minor": 4,
}


@pytest.mark.skipif(
    importlib.util.find_spec("papermill") is None, reason="papermill (the test extra) is missing"
)
def test_a_notebook_step_runs_with_papermill_in_the_checkout_with_its_cell(
    project: Path, instance: dg.DagsterInstance, job_kwargs: dict, out: Path
) -> None:
    (project / "explore.ipynb").write_text(json.dumps(NOTEBOOK))
    pipeline = GridPipeline(
        name="notebooks",
        parameters={"lr": 0.1},
        steps=[GridStep(name="explore", script="explore.ipynb", parameters={"depth": 1})],
    )
    job = grid_job(
        "nb_run", pipeline, {"pipeline_parameters": {"lr": [1, 2]}}, snapshot=project, **job_kwargs
    )

    results = job.launch_in_process(instance, evaluate(job, instance))

    assert [r.success for r in results] == [True, True]
    seen = outputs(out, "explore")
    assert sorted((r["lr"], r["depth"]) for r in seen) == [(1, 1), (2, 1)]
    assert all(Path(r["cwd"]).is_relative_to(job_kwargs["workdir_root"]) for r in seen)
    assert job.status(instance) is GridJobStatus.SUCCESS


@pytest.mark.skipif(
    importlib.util.find_spec("papermill") is not None, reason="papermill is installed"
)
def test_a_notebook_step_without_papermill_fails_with_a_clear_error(
    project: Path, instance: dg.DagsterInstance, job_kwargs: dict
) -> None:
    (project / "explore.ipynb").write_text(json.dumps({"cells": [], "nbformat": 4, "metadata": {}}))
    pipeline = GridPipeline(
        name="notebooks", steps=[GridStep(name="explore", script="explore.ipynb")]
    )
    job = grid_job("nb", pipeline, snapshot=project, **job_kwargs)
    (result,) = job.launch_in_process(instance, evaluate(job, instance))
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "papermill is not installed" in str(failure.event_specific_data.error.message)
    assert job.status(instance) is GridJobStatus.FAILURE
