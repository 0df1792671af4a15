"""Snapshots: what goes in, that runs execute them, and that runs are isolated."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from dagster_versioned.gridcore.ignore import IgnoreRules
from dagster_versioned.gridcore.snapshot import SNAPSHOT_REPO, snapshot_environment
from dagster_versioned.gridcore.tags import SNAPSHOT_TAG
from dagster_versioned.grids import GridPipeline, GridStep, grid_job
from dagster_versioned.store import Store

from .helpers import evaluate, load_module, outputs, simple_pipeline


def snapshot_paths(store: Store, commit: str) -> set[str]:
    return {f.path for f in store.walk_file(f"{SNAPSHOT_REPO}@{commit}:/") if f.type == "file"}


def test_gitignored_files_data_and_the_store_are_left_out_of_the_snapshot(
    project: Path, storage: str, job_kwargs: dict
) -> None:
    (project / "pkg").mkdir()
    (project / "pkg" / "util.py").write_text("X = 1\n")
    (project / "pkg" / "__pycache__").mkdir()
    (project / "pkg" / "__pycache__" / "util.cpython-311.pyc").write_bytes(b"\0")
    inner_store = project / "state" / "store"  # the store itself lives inside the project
    steps = load_module(project / "steps.py")
    job = grid_job(
        "snap",
        simple_pipeline(steps),
        snapshot=project,
        **{**job_kwargs, "storage": str(inner_store)},
    )
    store = Store.open(str(inner_store))
    commit = job.record.snapshot_commit
    assert commit is not None
    paths = snapshot_paths(store, commit)
    project_paths = {p for p in paths if not p.startswith("/.dv_environment/")}
    assert project_paths == {"/.gitignore", "/steps.py", "/report.py", "/check.sh", "/pkg/util.py"}
    env = snapshot_environment(store, SNAPSHOT_REPO, commit)
    assert env["python"].count(".") == 2
    assert "dagster==" in env["pip_freeze"].lower()
    # outputs written under data/ later never change the snapshot
    (project / "data" / "result.csv").write_text("new\n")
    assert snapshot_paths(store, commit) == paths


def test_gitignore_rules_follow_git() -> None:
    rules = IgnoreRules(["*.log", "!keep.log", "/build/", "docs/**/*.tmp", "cache/", "\\#lit"])
    assert rules.ignored("a/b/x.log", False)
    assert not rules.ignored("keep.log", False)
    assert rules.ignored("build", True)
    assert not rules.ignored("src/build", True)  # anchored at the root
    assert not rules.ignored("build", False)  # directories only
    assert rules.ignored("docs/a/b/c.tmp", False)
    assert rules.ignored("src/cache", True)
    assert rules.ignored("#lit", False)


def test_runs_execute_the_snapshot_not_the_edited_project(
    project: Path, instance: dg.DagsterInstance, out: Path, job_kwargs: dict
) -> None:
    steps = load_module(project / "steps.py")
    job = grid_job("isolated", simple_pipeline(steps), snapshot=project, **job_kwargs)
    commit = job.record.snapshot_commit
    for name in ("steps.py", "report.py"):
        path = project / name
        path.write_text(path.read_text().replace('VERSION = "v1"', 'VERSION = "v2"'))
    requests = evaluate(job, instance)
    assert requests[0].tags[SNAPSHOT_TAG] == commit
    results = job.launch_in_process(instance, requests)
    assert all(r.success for r in results)
    assert [o["version"] for o in outputs(out)] == ["v1", "v1"]
    run = results[0].dagster_run
    assert run.tags[SNAPSHOT_TAG] == commit
    cwd = Path(outputs(out, "fit")[0]["cwd"])
    assert cwd.name == run.run_id  # the run's private checkout
    assert (cwd / "steps.py").read_text().count('"v1"') == 1


def test_runs_do_not_see_each_others_files_and_the_snapshot_stays_unchanged(
    project: Path, instance: dg.DagsterInstance, out: Path, storage: str, job_kwargs: dict
) -> None:
    steps = load_module(project / "steps.py")
    pipeline = GridPipeline(
        name="scratchy", parameters={"lr": 0.1}, steps=[GridStep(name="scratch", fn=steps.scratch)]
    )
    job = grid_job(
        "scratch_job",
        pipeline,
        {"pipeline_parameters": {"lr": [1, 2]}},
        snapshot=project,
        **job_kwargs,
    )
    before = snapshot_paths(Store.open(storage), job.record.snapshot_commit or "")
    results = job.launch_in_process(instance, evaluate(job, instance))
    assert [r.success for r in results] == [True, True]
    first, second = outputs(out, "scratch")
    assert "scratch.txt" not in first["seen"]
    assert "scratch.txt" not in second["seen"]
    assert first["cwd"] != second["cwd"]
    assert Path(first["cwd"], "scratch.txt").read_text() == "1"
    assert snapshot_paths(Store.open(storage), job.record.snapshot_commit or "") == before
    assert not (project / "scratch.txt").exists()


def test_loading_a_job_again_keeps_its_record_and_snapshot(
    project: Path, storage: str, job_kwargs: dict
) -> None:
    steps = load_module(project / "steps.py")
    pipeline = simple_pipeline(steps)
    first = grid_job("reloaded", pipeline, snapshot=project, **job_kwargs)
    (project / "steps.py").write_text((project / "steps.py").read_text() + "\n# edited\n")
    (project / "train.parameters.json").write_text('{"pipeline_parameters": {"lr": 5}}')
    again = grid_job("reloaded", pipeline, snapshot=project, **job_kwargs)  # as every process does
    assert again.record.id == first.record.id
    assert again.record.snapshot_commit == first.record.snapshot_commit
    assert again.record.revision == 0
    assert len(Store.open(storage).list_commit("grid-snapshots@reloaded")) == 1
