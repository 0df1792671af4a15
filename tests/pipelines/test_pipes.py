"""A spec's ``transform.cmd`` reports to Dagster through Pipes; without Dagster it still runs."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import dagster as dg
import pytest

from dagster_versioned import pipeline_from_spec, versioned_definitions
from dagster_versioned.pps.jobs import JobState, JobStore
from dagster_versioned.pps.runner import run_job
from dagster_versioned.pps.spec import load_spec_file
from dagster_versioned.store import Store

PIPES_SCRIPT = """
import os
from pathlib import Path

from dagster_pipes import open_dagster_pipes

with open_dagster_pipes() as pipes:
    src = Path(os.environ["images"])
    words = len(src.read_text().split())
    (Path(os.environ["PFS_OUT"]) / src.name).write_text(str(words))
    pipes.log.info(f"counted {words} words in {src.name}")
    pipes.report_asset_materialization(
        metadata={"words_" + src.stem: words, "datum": pipes.extras["datum_id"]}
    )
print("plain stdout from", src.name)
"""


@pytest.fixture
def storage(tmp_path: Path) -> str:
    url = str(tmp_path / "store")
    store = Store.open(url)
    store.create_repo("images")
    with store.commit("images@master") as c:
        c.put_file("/a.txt", b"one two three")
        c.put_file("/b.txt", b"four five")
    return url


def write_spec(tmp_path: Path, name: str, cmd: list[str], stdin: list[str] | None = None) -> Path:
    path = tmp_path / f"{name}.json"
    transform: dict[str, object] = {"image": "python:3.11", "cmd": cmd}
    if stdin:
        transform["stdin"] = stdin
    path.write_text(
        json.dumps(
            {
                "pipeline": {"name": name},
                "input": {"pfs": {"repo": "images", "glob": "/*"}},
                "transform": transform,
            }
        )
    )
    return path


def materialize_one(storage: str, spec_file: Path, name: str) -> tuple[list[str], dict]:
    defs = versioned_definitions([pipeline_from_spec(spec_file)], storage=storage)
    with dg.instance_for_test() as instance:
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, asset_selection=[dg.AssetKey(name)]
        )
        assert result.success
        messages = [e.user_message for e in instance.all_logs(result.run_id)]
        (mat,) = result.asset_materializations_for_node(name)
    return messages, {k: v.value for k, v in mat.metadata.items()}


def test_a_pipes_aware_command_logs_and_reports_metadata_to_the_run(storage, tmp_path):
    script = tmp_path / "count.py"
    script.write_text(PIPES_SCRIPT)
    spec_file = write_spec(tmp_path, "count", [sys.executable, str(script)])
    messages, metadata = materialize_one(storage, spec_file, "count")
    assert any("counted 3 words in a.txt" in m for m in messages)
    assert any("counted 2 words in b.txt" in m for m in messages)
    assert any("[stdout]: plain stdout from a.txt" in m for m in messages)
    assert metadata["words_a"] == 3
    assert metadata["words_b"] == 2
    datums = JobStore(Store.open(storage)).load_datums("count", metadata["global_id"])
    assert metadata["datum"] in {d.id for d in datums}  # the datum id, passed in Pipes extras
    assert metadata["progress"] == "2 + 0 / 2"  # the job's own metadata is still there
    assert Store.open(storage).get_file("count@master:/a.txt") == b"3"


def test_a_plain_command_output_reaches_the_run_log_without_pipes_warnings(storage, tmp_path):
    spec_file = write_spec(
        tmp_path,
        "shout",
        ["sh"],
        ['for f in /pfs/images/*; do echo "saw $(basename $f)"; echo oops >&2; done'],
    )
    messages, metadata = materialize_one(storage, spec_file, "shout")
    assert sum("[stdout]: saw " in m for m in messages) == 2
    assert sum("[stderr]: oops" in m for m in messages) == 2
    assert not [m for m in messages if "[pipes]" in m]
    assert metadata["datums_processed"] == 2


def test_the_pipes_aware_command_runs_outside_dagster_too(storage, tmp_path):
    script = tmp_path / "count.py"
    script.write_text(PIPES_SCRIPT)
    spec = load_spec_file(write_spec(tmp_path, "count", [sys.executable, str(script)]))
    store = Store.open(storage)
    job = run_job(store, spec, store.inspect_commit("images@master").id)
    assert job.state == JobState.SUCCESS
    assert store.get_file("count@master:/b.txt") == b"2"


def test_a_failing_pipes_command_fails_the_datum_with_its_error(storage, tmp_path):
    script = tmp_path / "bad.py"
    script.write_text(
        textwrap.dedent(
            """
            from dagster_pipes import open_dagster_pipes

            with open_dagster_pipes() as pipes:
                pipes.log.warning("about to fail")
                raise SystemExit("no model file")
            """
        )
    )
    spec_file = write_spec(tmp_path, "bad", [sys.executable, str(script)])
    defs = versioned_definitions([pipeline_from_spec(spec_file)], storage=storage)
    with dg.instance_for_test() as instance:
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, asset_selection=[dg.AssetKey("bad")], raise_on_error=False
        )
        assert not result.success
        messages = [e.user_message for e in instance.all_logs(result.run_id)]
    assert any("about to fail" in m for m in messages)
    assert any("no model file" in m for m in messages)
