"""Pachyderm's "Jobs" page through dvctl: list job, inspect job --raw, wait job, list datum."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from dagster_versioned.cli.main import load_commands
from dagster_versioned.pps.inputs import cross, pfs
from dagster_versioned.pps.runner import run_job
from dagster_versioned.pps.spec import PipelineSpec
from dagster_versioned.pps.transform import Datum
from dagster_versioned.store import Store


def edges_fn(datum: Datum) -> None:
    for src in datum.files("images"):
        (datum.out / src.name).write_bytes(src.read_bytes()[:100])


def montage_fn(datum: Datum) -> None:
    (datum.out / "montage.png").write_bytes(b"".join(p.read_bytes() for p in datum.files("edges")))


EDGES = PipelineSpec(name="edges", input=pfs("images", "/*"), fn=edges_fn)
MONTAGE = PipelineSpec(
    name="montage", input=cross(pfs("images", "/"), pfs("edges", "/")), fn=montage_fn
)


@pytest.fixture
def dag(tmp_path: Path) -> tuple[str, list[str]]:
    """images → edges → montage after two commits: 1 image, then 3 more."""
    url = str(tmp_path / "store")
    store = Store.open(url)
    store.create_repo("images")
    ids = []
    for batch in (["a.png"], ["b.png", "c.png", "d.png"]):
        with store.commit("images@master") as c:
            for name in batch:
                c.put_file(f"/{name}", name.encode() * 200)
        gid = store.inspect_commit("images@master").id
        run_job(store, EDGES, gid)
        run_job(store, MONTAGE, gid)
        ids.append(gid)
    return url, ids


def dvctl(url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(load_commands(), ["--storage", url, *args])
    return result.exit_code, result.output


def rows(output: str) -> list[list[str]]:
    return [line.split() for line in output.strip().splitlines()[1:]]


def test_list_job_for_a_pipeline_shows_progress_processed_plus_skipped_over_total(dag):
    url, (first, second) = dag
    code, out = dvctl(url, "list", "job", "-p", "edges")
    assert code == 0
    assert out.splitlines()[0].split() == [
        "ID",
        "PIPELINE",
        "STARTED",
        "DURATION",
        "RESTART",
        "PROGRESS",
        "DL",
        "UL",
        "STATE",
    ]
    assert [(line[0], "".join(line).count("success")) for line in rows(out)] == [
        (second, 1),
        (first, 1),
    ]
    assert "3 + 1 / 4" in out.splitlines()[1]
    assert "1 + 0 / 1" in out.splitlines()[2]


def test_list_job_with_an_id_lists_every_pipeline_of_the_global_job(dag):
    url, (_, second) = dag
    code, out = dvctl(url, "list", "job", second)
    assert code == 0
    assert [(r[0], r[1]) for r in rows(out)] == [(second, "edges"), (second, "montage")]


def test_list_job_without_arguments_lists_global_jobs(dag):
    url, (first, second) = dag
    _, out = dvctl(url, "list", "job")
    assert out.splitlines()[0].split() == ["ID", "SUBJOBS", "PROGRESS", "CREATED", "MODIFIED"]
    assert [(r[0], r[1]) for r in rows(out)] == [(second, "2"), (first, "2")]


def test_inspect_job_raw_has_pachyderms_fields(dag):
    url, (_, second) = dag
    code, out = dvctl(url, "inspect", "job", f"edges@{second}", "--raw")
    assert code == 0
    raw = json.loads(out)
    assert raw["job"] == {"pipeline": {"name": "edges"}, "id": second}
    assert raw["pipeline_version"] == "1"
    assert raw["output_commit"]["id"] == second
    assert raw["output_commit"]["branch"]["repo"] == {"name": "edges", "type": "user"}
    assert (raw["data_processed"], raw["data_skipped"], raw["data_total"]) == ("3", "1", "4")
    assert raw["state"] == "JOB_SUCCESS"
    assert set(raw["stats"]) >= {
        "download_time",
        "process_time",
        "upload_time",
        "download_bytes",
        "upload_bytes",
    }
    assert raw["stats"]["download_time"].endswith("s")
    assert {"created", "started", "finished"} <= set(raw)
    details = raw["details"]
    assert details["input"]["pfs"]["commit"] == second
    assert details["input"]["pfs"]["glob"] == "/*"
    assert details["datum_tries"] == "3"
    assert len(details["salt"]) == 32


def test_inspect_job_with_a_bare_id_points_to_list_job(dag):
    url, (_, second) = dag
    code, out = dvctl(url, "inspect", "job", second)
    assert code == 1
    assert f'Use "list job {second}" to see jobs with a given ID across different pipelines' in out


def test_wait_job_prints_the_finished_jobs(dag):
    url, (_, second) = dag
    code, out = dvctl(url, "wait", "job", second)
    assert code == 0
    assert [r[1] for r in rows(out)] == ["edges", "montage"]


def test_list_datum_shows_each_datum_with_its_status(dag):
    url, (_, second) = dag
    _, out = dvctl(url, "list", "datum", f"edges@{second}")
    assert out.splitlines()[0].split() == ["ID", "FILES", "STATUS", "TIME"]
    statuses = sorted(r[2] for r in rows(out))
    assert statuses == ["skipped", "success", "success", "success"]
    assert all(r[1].startswith(f"images@{second}:/") for r in rows(out))


def test_list_pipeline_shows_each_pipeline_and_its_input(dag):
    url, _ = dag
    code, out = dvctl(url, "list", "pipeline")
    assert code == 0
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert "images:/*" in lines["edges"]
    # No Dagster instance says whether the pipeline's sensor runs: the state is "-", never a
    # made-up "running"; the last job's state follows.
    assert "- / success" in lines["montage"]


def test_stop_job_of_a_finished_job_is_an_error_naming_its_state(dag):
    url, (_, second) = dag
    code, out = dvctl(url, "stop", "job", f"edges@{second}")
    assert code == 1
    assert "already ended (success)" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["inspect", "job", "edges@nothex"], "invalid job id"),
        (["inspect", "job", "nope"], "invalid job"),
        (["inspect", "job", f"edges@{'0' * 32}"], "not found"),
        (["list", "job", "-p", "edges", "--history", "x"], "--history"),
    ],
)
def test_bad_job_references_are_one_line_errors(dag, args, message):
    url, _ = dag
    code, out = dvctl(url, *args)
    assert code == 1
    assert message in out
    assert "Traceback" not in out
