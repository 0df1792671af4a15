"""Editing ``<pipeline>.parameters.json`` after the grid job exists.

The stored job, not the file, is what runs (its snapshot and parameters were fixed when it was
created), so an edit alone changes nothing: ``dvctl grid update NAME`` applies it to later
batches, as strictly as the file was read at creation, or refuses with one line saying why.
Reloading the definitions with an edited file says which command applies it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner

from dagster_versioned.cli.main import load_commands
from dagster_versioned.grids import grid_job

from .helpers import STEPS_PY, evaluate, load_module, outputs, simple_pipeline


def dvctl(storage: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(load_commands(), ["--storage", storage, *args])
    return result.exit_code, result.stdout, result.stderr


def write_params(project: Path, data: dict) -> Path:
    path = project / "train.parameters.json"
    path.write_text(json.dumps(data))
    return path


def test_grid_update_applies_the_edited_file_to_later_batches_only(
    project: Path, instance: dg.DagsterInstance, storage: str, job_kwargs: dict, out: Path
) -> None:
    write_params(project, {"pipeline_parameters": {"lr": [1]}})
    steps = load_module(project / "steps.py")
    job = grid_job(
        "nightly", simple_pipeline(steps), schedule="0 3 * * *", snapshot=project, **job_kwargs
    )
    job.run_now()
    job.launch_in_process(instance, evaluate(job, instance))
    write_params(project, {"pipeline_parameters": {"lr": [1, 2, 3]}})
    assert len(job.grid.cells) == 1  # the edit alone changes nothing

    code, stdout, _ = dvctl(storage, "grid", "update", "nightly")

    assert code == 0
    assert stdout == (
        "grid job 'nightly': 3 cells (was 1), parameters revision 1; later batches use them\n"
    )
    assert [c.describe() for c in job.grid.cells][-1] == "lr=3, report.level=1"
    job.run_now()
    job.launch_in_process(instance, evaluate(job, instance))
    seen = [r["lr"] for r in outputs(out, "fit")]
    assert seen[:1] == [1]  # the first batch ran what it ran
    assert sorted(seen[1:]) == [1, 2, 3]


def test_an_unchanged_file_writes_nothing(project: Path, storage: str, job_kwargs: dict) -> None:
    write_params(project, {"pipeline_parameters": {"lr": [1, 2]}})
    steps = load_module(project / "steps.py")
    job = grid_job(
        "same", simple_pipeline(steps), schedule="0 3 * * *", snapshot=project, **job_kwargs
    )

    code, stdout, _ = dvctl(storage, "grid", "update", "same")

    assert (code, stdout) == (0, "grid job 'same': the parameters are unchanged (2 cells)\n")
    assert job.record.grid_revision == 0


def test_grid_update_reads_another_file_and_deselects_cells(
    project: Path, tmp_path: Path, storage: str, job_kwargs: dict
) -> None:
    steps = load_module(project / "steps.py")
    job = grid_job(
        "other", simple_pipeline(steps), schedule="0 3 * * *", snapshot=project, **job_kwargs
    )
    other = tmp_path / "wide.parameters.json"
    other.write_text(json.dumps({"pipeline_parameters": {"lr": [1, 2]}, "report": {"level": [5]}}))

    code, _, _ = dvctl(storage, "grid", "update", "other", str(other), "-x", "0")

    assert code == 0
    assert [c.describe() for c in job.grid.cells] == ["lr=2, report.level=5"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            {"report": {"depth": [1]}},
            "key 'report.depth': unknown parameter 'depth'; step 'report' declares: level",
        ),
        ({"pipeline_parameters": {"lr": 0.5}}, "key 'pipeline_parameters.lr': the value 0.5"),
    ],
)
def test_a_bad_edit_is_refused_naming_the_key_and_the_job_keeps_its_parameters(
    project: Path, storage: str, job_kwargs: dict, content: dict, message: str
) -> None:
    steps = load_module(project / "steps.py")
    job = grid_job(
        "strict", simple_pipeline(steps), schedule="0 3 * * *", snapshot=project, **job_kwargs
    )
    path = write_params(project, content)

    code, stdout, stderr = dvctl(storage, "grid", "update", "strict")

    assert (code, stdout) == (1, "")
    assert stderr.startswith(f"error: {path}: {message}")
    assert len(stderr.splitlines()) == 1
    assert job.record.grid_revision == 0


def test_a_started_one_off_job_refuses_the_edit_and_writes_nothing(
    project: Path, instance: dg.DagsterInstance, storage: str, job_kwargs: dict
) -> None:
    steps = load_module(project / "steps.py")
    job = grid_job("once", simple_pipeline(steps), snapshot=project, **job_kwargs)
    evaluate(job, instance)  # the first tick starts the one-off batch
    write_params(project, {"pipeline_parameters": {"lr": [7, 8]}})
    cells_before = sorted(p.name for p in (Path(storage) / "gridjobs" / "once").rglob("cells/*"))

    code, _, stderr = dvctl(storage, "grid", "update", "once")

    assert code == 1
    assert stderr == (
        "error: grid job 'once' is a one-off job that is PENDING: its parameters and schedule "
        "are fixed; duplicate it to run other parameters\n"
    )
    assert sorted(p.name for p in (Path(storage) / "gridjobs" / "once").rglob("cells/*")) == (
        cells_before
    )


def test_a_job_without_a_project_needs_the_file_named(
    tmp_path: Path, storage: str, job_kwargs: dict
) -> None:
    (tmp_path / "live_steps.py").write_text(STEPS_PY)
    steps = load_module(tmp_path / "live_steps.py")
    grid_job("live", simple_pipeline(steps), schedule="0 3 * * *", **job_kwargs)  # no snapshot

    code, _, stderr = dvctl(storage, "grid", "update", "live")

    assert code == 1
    assert stderr == (
        "error: grid job 'live' has no project directory (it runs live code, no snapshot): "
        "give the parameters file to read\n"
    )


def test_reloading_definitions_with_an_edited_file_says_how_to_apply_it(
    project: Path, job_kwargs: dict, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_params(project, {"pipeline_parameters": {"lr": [1]}})
    steps = load_module(project / "steps.py")
    pipeline = simple_pipeline(steps)
    grid_job("hint", pipeline, str(path), schedule="0 3 * * *", snapshot=project, **job_kwargs)
    write_params(project, {"pipeline_parameters": {"lr": [1, 2]}})

    with caplog.at_level(logging.WARNING, logger="dagster_versioned"):
        job = grid_job(
            "hint", pipeline, str(path), schedule="0 3 * * *", snapshot=project, **job_kwargs
        )

    assert len(job.grid.cells) == 1
    assert "`dvctl grid update hint`" in caplog.text


def test_a_cancelled_job_refuses_even_an_unchanged_file(
    project: Path, storage: str, job_kwargs: dict
) -> None:
    steps = load_module(project / "steps.py")
    job = grid_job(
        "gone", simple_pipeline(steps), schedule="0 3 * * *", snapshot=project, **job_kwargs
    )
    job.cancel()

    code, _, stderr = dvctl(storage, "grid", "update", "gone")

    assert code == 1
    assert stderr == "error: grid job 'gone' is ABORTED: no field can change any more\n"
