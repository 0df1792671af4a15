"""examples/dg_project under the real ``dg`` CLI, as its README runs it.

Each test copies the project to a temp folder and runs ``dg`` there with the project's ``src``
on PYTHONPATH (what ``pip install -e .`` would do) and the running venv's ``bin`` first on PATH,
so ``dg`` uses this environment: no ``uv``, no network.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dagster_versioned.errors import VersionedError
from dagster_versioned.store import Store
from dagster_versioned.testing.daemon import DagsterDaemon

pytestmark = pytest.mark.dagster

PROJECT = Path(__file__).parents[2] / "examples" / "dg_project"
DG = Path(sys.executable).parent / "dg"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    copy = tmp_path / "dg_project"
    shutil.copytree(
        PROJECT, copy, ignore=shutil.ignore_patterns("__pycache__", ".dagster_versioned")
    )
    return copy


def dg_env(project: Path) -> dict[str, str]:
    home = project.parent / "dagster_home"
    home.mkdir(exist_ok=True)
    if not (home / "dagster.yaml").exists():
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return {
        **os.environ,
        "PATH": f"{DG.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(project / "src"),
        "DAGSTER_HOME": str(home),
        "DAGSTER_VERSIONED_STORAGE": str(project.parent / "store"),
        "NO_COLOR": "1",
    }


def dg(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DG), *args], cwd=project, env=dg_env(project), capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


def test_dg_lists_the_component_and_the_pipelines_it_defines(project):
    components = dg(project, "list", "components", "--json")
    assert components.returncode == 0, components.stderr
    keys = [c["key"] for c in json.loads(components.stdout)["items"]]
    assert "dagster_versioned.PipelineSpecsComponent" in keys

    listed = dg(project, "list", "defs", "--json")
    assert listed.returncode == 0, listed.stderr
    defs = json.loads(listed.stdout)
    assert sorted(a["asset_key"] for a in defs["assets"]) == ["edges", "images", "montage"]
    assert "dv_images_master" in {s["name"] for s in defs["sensors"]}
    assert {"images:fsck", "edges:datums_succeeded"} <= {c["key"] for c in defs["asset_checks"]}
    # loading made the output repos, as `create pipeline` does in Pachyderm
    assert {r.name for r in Store.open(str(project.parent / "store")).list_repo()} >= {
        "edges", "montage",
    }  # fmt: skip


def test_dg_check_defs_passes_and_names_the_file_and_field_of_a_bad_spec(project):
    ok = dg(project, "check", "defs")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "All definitions loaded successfully" in ok.stdout

    edges = project / "src" / "dv_dg_project" / "defs" / "pipelines" / "edges.json"
    spec = json.loads(edges.read_text())
    del spec["transform"]["cmd"]
    edges.write_text(json.dumps(spec))
    bad = dg(project, "check", "defs")
    assert bad.returncode != 0
    out = bad.stdout + bad.stderr
    assert f"InvalidSpec: {edges}: field 'transform.cmd' is required" in out
    assert "pps/spec.py" not in out  # the parser's frames are not part of the report


def test_dg_scaffold_defs_writes_a_component_that_loads(project):
    shutil.rmtree(project / "src" / "dv_dg_project" / "defs" / "pipelines")
    scaffolded = dg(project, "scaffold", "defs", "dagster_versioned.PipelineSpecsComponent", "copy")
    assert scaffolded.returncode == 0, scaffolded.stdout + scaffolded.stderr
    folder = project / "src" / "dv_dg_project" / "defs" / "copy"
    assert sorted(p.name for p in folder.iterdir()) == ["copy.json", "defs.yaml"]
    listed = dg(project, "list", "defs", "--json")
    assert listed.returncode == 0, listed.stderr
    assert sorted(a["asset_key"] for a in json.loads(listed.stdout)["assets"]) == ["copy", "raw"]


def test_the_readme_walkthrough_runs_edges_then_montage_with_dg_launch(project):
    store = Store.open(str(project.parent / "store"))
    store.create_repo("images")
    store.put_file("images@master:/a.png", b"pixels")
    launched = dg(project, "launch", "--assets", "edges,montage")
    assert launched.returncode == 0, launched.stdout[-2000:] + launched.stderr[-2000:]
    (line,) = store.get_file("montage@master:/montage.txt").decode().splitlines()
    name, checksum, size = line.split()
    assert (name, size) == ("a.png", "6")
    assert store.get_file("edges@master:/a.png.edges").decode().split()[0] == checksum
    head = store.inspect_commit("images@master")
    for pipeline in ("edges", "montage"):  # the input head is in each output's provenance
        provenance = store.inspect_commit(f"{pipeline}@master").provenance
        assert ("images", head.id) in {(p.repo, p.id) for p in provenance}


def test_a_daemon_on_the_project_runs_both_pipelines_for_a_commit_with_its_global_id(project):
    """``dagster-daemon`` loads the component's code location; a ``dvctl put file`` into the
    input repo becomes one run whose output heads carry the input commit's id."""
    store = Store.open(str(project.parent / "store"))
    store.create_repo("images")
    home = project.parent / "daemon_home"
    target = ["-m", "dv_dg_project.definitions"]
    with DagsterDaemon(home, target, cwd=project, env=dg_env(project), wait_seconds=240) as d:
        commit = store.put_file("images@master:/a.png", b"pixels")
        heads = [commit.id, commit.id]
        d.wait_for(
            f"output heads for {commit.id}",
            lambda: [_head_id(store, p) for p in ("edges", "montage")] == heads,
        )
    (line,) = store.get_file("montage@master:/montage.txt").decode().splitlines()
    assert line.split()[0] == "a.png"


def _head_id(store: Store, repo: str) -> str | None:
    try:
        return store.inspect_commit(f"{repo}@master").id
    except VersionedError:
        return None
