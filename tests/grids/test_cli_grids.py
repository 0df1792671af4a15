"""dvctl's grid-job commands read the store only: list, inspect, expand, and job controls."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import dagster as dg
from click.testing import CliRunner

import dagster_versioned.cli.commands_grids  # noqa: F401  (registers the commands)
from dagster_versioned.cli.main import load_commands
from dagster_versioned.grids import GridJobStatus, grid_job
from dagster_versioned.store import Store

from .helpers import evaluate, load_module, record_runs, simple_pipeline


def dvctl(storage: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(load_commands(), ["--storage", storage, *args])
    return result.exit_code, result.stdout, result.stderr


def two_cell_job(name: str, project: Path, job_kwargs: dict):
    """A grid job over ``lr`` in (1, 2): two cells, one batch."""
    steps = load_module(project / "steps.py")
    return grid_job(
        name,
        simple_pipeline(steps),
        {"pipeline_parameters": {"lr": [1, 2]}},
        snapshot=project,
        **job_kwargs,
    )


def test_list_and_inspect_grid_job_show_status_batches_and_runs(
    project: Path, instance: dg.DagsterInstance, storage: str, job_kwargs: dict
) -> None:
    job = two_cell_job("listed", project, job_kwargs)
    record_runs(job, instance, evaluate(job, instance))
    assert job.status(instance) is GridJobStatus.SUCCESS  # copies the run states to the store
    code, out, _ = dvctl(storage, "list", "grid-job")
    assert code == 0
    header, row = out.splitlines()
    assert header.split() == [
        "NAME",
        "ID",
        "PIPELINE",
        "SCHEDULE",
        "STATUS",
        "BATCHES",
        "RUNS",
        "CREATED",
    ]
    assert row.split()[:7] == ["listed", job.id, "train", "once", "SUCCESS", "1", "2/2"]
    code, out, _ = dvctl(storage, "inspect", "grid-job", "listed")
    assert code == 0
    assert f"Snapshot: grid-snapshots@{job.record.snapshot_commit}" in out
    assert "Parameters: lr=[1, 2], report.level=[1]" in out
    assert "Cells: 2 of 2 selected" in out
    code, out, _ = dvctl(storage, "inspect", "grid-job", "listed", "--raw")
    raw = json.loads(out)
    assert raw["derived_status"] == "SUCCESS"
    assert raw["batches"][0]["cells"][1]["key"] == "lr=2;report.level=1"
    assert {r["status"] for r in raw["batches"][0]["runs"].values()} == {"SUCCESS"}


def test_inspecting_a_missing_grid_job_is_one_error_line(storage: str) -> None:
    Store.open(storage)  # an existing store without the job (a missing store is another error)
    code, _, err = dvctl(storage, "inspect", "grid-job", "nope")
    assert code == 1
    assert err == "error: grid job 'nope' not found\n"


def test_grid_expand_prints_cells_and_rejects_bad_files(tmp_path: Path, storage: str) -> None:
    path = tmp_path / "train.parameters.json"
    path.write_text(json.dumps({"pipeline_parameters": {"a": [1, 2]}, "S": {"b": ["x", "y"]}}))
    code, out, _ = dvctl(storage, "grid", "expand", str(path), "--deselect", "1")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["CELL", "KEY", "PARAMETERS"]
    assert [line.split()[0] for line in lines[1:]] == ["0", "2", "3"]
    assert "a=1;S.b=x" in lines[1]
    code, out, _ = dvctl(storage, "grid", "expand", str(path), "--raw")
    assert [json.loads(line)["index"] for line in out.splitlines()] == [0, 1, 2, 3]
    path.write_text('{"pipeline_parameters": {"a": 1}}')
    code, out, err = dvctl(storage, "grid", "expand", str(path))
    assert code == 1
    assert out == ""
    assert err.startswith(f"error: {path}: key 'pipeline_parameters.a': the value 1 is not a list")


def test_pause_resume_and_cancel_from_the_command_line_change_the_record(
    project: Path, storage: str, job_kwargs: dict
) -> None:
    steps = load_module(project / "steps.py")
    job = grid_job(
        "ctl", simple_pipeline(steps), schedule="0 * * * *", snapshot=project, **job_kwargs
    )
    assert dvctl(storage, "grid", "pause", "ctl")[1] == "grid job 'ctl' is PAUSED\n"
    assert job.record.status is GridJobStatus.PAUSED
    assert dvctl(storage, "grid", "run-now", "ctl")[0] == 0
    assert len(job.jobs.requests("ctl")) == 1
    assert dvctl(storage, "grid", "resume", "ctl")[1] == "grid job 'ctl' is STARTED\n"
    assert dvctl(storage, "grid", "cancel", "ctl")[1] == "grid job 'ctl' is ABORTED\n"
    code, _, err = dvctl(storage, "grid", "pause", "ctl")
    assert code == 1
    assert "only a STARTED job can pause" in err


def test_the_grid_commands_do_not_import_dagster() -> None:
    code = (
        "import sys; import dagster_versioned.cli.commands_grids as m; "
        "from dagster_versioned.gridcore import lifecycle, params_file; "
        "print('dagster' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_runs_launched_in_process_show_in_dvctl_without_another_tick(
    project: Path, instance: dg.DagsterInstance, storage: str, job_kwargs: dict
) -> None:
    job = two_cell_job("here", project, job_kwargs)

    job.launch_in_process(instance)

    code, out, _ = dvctl(storage, "inspect", "grid-job", "here")
    assert code == 0
    assert "Status: SUCCESS" in out.splitlines()
    assert "Runs: 2/2" in out.splitlines()
