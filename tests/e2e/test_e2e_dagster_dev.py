"""End to end as a new user meets it: ``dagster dev -f definitions.py``, seed data, runs appear.

Nothing is called in-process: ``dagster dev`` (webserver + daemon) serves the repo's own
``definitions.py`` on a free port with a temporary DAGSTER_HOME and store, the README's seed
script commits pictures to ``images@master``, and the test watches through the GraphQL API — the
API the UI uses — as the ``dv_images_master`` sensor starts a run for the commit and the run
materialises ``edges`` and ``montage``. ``dvctl list job`` must tell the same story.

In the same session the grid-search example's grid job runs: ``dvctl grid run-now`` asks for a
batch, the job's sensor starts one run per cell of ``search.parameters.json`` with the cell in
its tags, and one more cell is launched through GraphQL the way the UI's "Materialize" does.
``dvctl inspect grid-job`` must agree with Dagster about every run.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from dagster_graphql import DagsterGraphQLClient

from dagster_versioned import GLOBAL_ID_TAG
from dagster_versioned.gridcore.tags import (
    BATCH_TAG,
    CELL_TAG,
    GRID_JOB_NAME_TAG,
    GRID_JOB_TAG,
    SNAPSHOT_TAG,
    TRIGGER_TAG,
)

from .deployment import (
    BIN,
    ROOT,
    TERMINAL,
    Deployment,
    dagster_home,
    deployment,
    free_port,
    raw_records,
    run_cli,
)

COMMIT_RE = re.compile(r"images@master is now ([0-9a-f]{32})")
GRID_JOB = "nightly_search"
PARTITION_TAG = "dagster/partition"


def expected_cells() -> dict[int, dict[str, Any]]:
    """The cells of the example's parameters file, worked out here from the file itself:
    pipeline parameters first, then the step's in file order, the last varying fastest."""
    grid = json.loads((ROOT / "examples/gridsearch/search.parameters.json").read_text())
    dims = [(name, values) for name, values in grid.pop("pipeline_parameters").items()]
    dims += [(f"{step}.{p}", v) for step, ps in grid.items() for p, v in ps.items()]
    product = itertools.product(*(values for _, values in dims))
    return {i: dict(zip([n for n, _ in dims], cell, strict=True)) for i, cell in enumerate(product)}


def cell_of_key(key: str) -> dict[str, Any]:
    """A readable partition key's parameters: ``seed=1;fit.lr=0.01`` -> {seed: 1, fit.lr: 0.01}."""
    return {n: json.loads(v) for n, v in (part.split("=", 1) for part in key.split(";"))}


def as_run_params(cell: dict[str, Any]) -> dict[str, Any]:
    """A cell as the step's ``parameters`` metadata shows it (``RunParams.to_json``)."""
    pipeline = {n: v for n, v in cell.items() if "." not in n}
    steps: dict[str, dict[str, Any]] = {}
    for name, value in cell.items():
        if "." in name:
            step, param = name.split(".", 1)
            steps.setdefault(step, {})[param] = value
    return {"pipeline_parameters": pipeline, "step_parameters": steps, "step": "fit"}


def run_ended(client: DagsterGraphQLClient, run_id: str) -> str | None:
    """The run's status once it has ended, else None (``wait_for`` polls this)."""
    status = str(client.get_run_status(run_id).value)
    return status if status in TERMINAL else None


def inspect_grid_job(env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """``dvctl inspect grid-job nightly_search --raw``: the job's record and batches."""
    out = run_cli([str(BIN / "dvctl"), "inspect", "grid-job", GRID_JOB, "--raw"], env, cwd)
    return dict(json.loads(out))


def check_grid_batch(dev: Deployment, env: dict[str, str], cwd: Path) -> dict[str, str]:
    """The run-now batch: one successful run per cell, the cell in its tags and metadata.

    Returns ``{partition key: run id}``.
    """
    cells = expected_cells()

    def every_cell_finished() -> list[dict[str, Any]] | None:
        found = dev.finished_runs_tagged(GRID_JOB_NAME_TAG, GRID_JOB)
        return found if found and len(found) >= len(cells) else None

    runs = dev.wait_for(f"one finished run per cell of {GRID_JOB}", every_cell_finished)
    failed = [r for r in runs if r["status"] != "SUCCESS"]
    assert not failed, dev.run_errors(failed[0]["runId"])
    tags = [{t["key"]: t["value"] for t in r["tags"]} for r in runs]
    # One run per cell, and the cell's parameters are in its partition tag.
    assert sorted(int(t[CELL_TAG]) for t in tags) == sorted(cells)
    for t in tags:
        assert cell_of_key(t[PARTITION_TAG]) == cells[int(t[CELL_TAG])], t
    record = inspect_grid_job(env, cwd)
    (batch,) = record["batches"]
    assert {(t[GRID_JOB_TAG], t[BATCH_TAG], t[TRIGGER_TAG]) for t in tags} == {
        (record["id"], "0", "manual")
    }
    assert {t[GLOBAL_ID_TAG] for t in tags} == {batch["global_id"]}
    assert {t[SNAPSHOT_TAG] for t in tags} == {record["snapshot"]["commit"]}
    assert sorted(c["key"] for c in batch["cells"]) == sorted(t[PARTITION_TAG] for t in tags)

    # Every cell's materialisation of the step carries the parameters the step ran with.
    run_of = {t[PARTITION_TAG]: r["runId"] for t, r in zip(tags, runs, strict=True)}
    events = dev.partition_materializations([GRID_JOB, "fit"])
    assert sorted(e["partition"] for e in events) == sorted(run_of)
    for event in events:
        assert event["runId"] == run_of[event["partition"]]
        metadata = event["metadata"]
        assert metadata["parameters"] == as_run_params(cell_of_key(event["partition"]))
        assert metadata["snapshot"] == record["snapshot"]["commit"]
    return run_of


def dvctl_grid_states(env: dict[str, str], cwd: Path) -> dict[str, dict[str, Any]] | None:
    """``{cell: {run_id, status}}`` of batch 0 as ``dvctl`` reads it, once every run has ended."""
    runs = inspect_grid_job(env, cwd)["batches"][0]["runs"]
    ended = len(runs) == len(expected_cells()) and all(
        r["status"] in ("SUCCESS", "FAILURE", "ABORTED") for r in runs.values()
    )
    return dict(runs) if ended else None


def seed_images(env: dict[str, str], cwd: Path, count: int, start: int = 0) -> str:
    """Run the README's seed script; the new head of ``images@master``."""
    out = run_cli(
        [sys.executable, str(ROOT / "examples/images/seed.py"), "--count", str(count),
         "--start", str(start)],
        env, cwd,
    )  # fmt: skip
    found = COMMIT_RE.search(out)
    assert found, out
    return found.group(1)


@pytest.mark.dagster
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning:gql")  # inside DagsterGraphQLClient
def test_dagster_dev_runs_the_image_commits_and_a_grid_batch_and_dvctl_agrees(
    tmp_path: Path,
) -> None:
    storage = str(tmp_path / "store")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home(tmp_path)),
        "DAGSTER_VERSIONED_STORAGE": storage,
    }
    port = free_port()
    command = [str(BIN / "dagster"), "dev", "-f", str(ROOT / "definitions.py"),
               "-h", "127.0.0.1", "-p", str(port)]  # fmt: skip
    with deployment([command], port=port, cwd=tmp_path, env=env, logs=tmp_path) as dev:
        # "Run now" for the grid job as soon as loading definitions.py has created its record
        # (store layout: docs/grids.md); the job's sensor starts the batch at its next tick.
        record = Path(storage) / "gridjobs" / GRID_JOB / "job.json"
        dev.wait_for(f"the record of grid job {GRID_JOB}", record.is_file)
        run_cli([str(BIN / "dvctl"), "grid", "run-now", GRID_JOB], env, tmp_path)
        dev.wait_for("the GraphQL endpoint", dev.answers_graphql)
        first = seed_images(env, tmp_path, count=2)

        (run,) = dev.wait_for(
            f"the run for images@{first}", lambda: dev.finished_runs_tagged(GLOBAL_ID_TAG, first)
        )
        assert run["status"] == "SUCCESS", dev.run_errors(run["runId"])
        client = DagsterGraphQLClient("127.0.0.1", port_number=port)
        assert client.get_run_status(run["runId"]).value == "SUCCESS"

        run_id, edges = dev.latest_materialization("edges")
        assert run_id == run["runId"]
        assert edges["global_id"] == first
        assert edges["progress"] == "2 + 0 / 2"  # one datum per picture, both processed
        assert re.fullmatch(r"[0-9a-f]{32}", edges["output_commit"])
        _, montage = dev.latest_materialization("montage")
        assert (montage["global_id"], montage["progress"]) == (first, "1 + 0 / 1")

        listed = raw_records(run_cli([str(BIN / "dvctl"), "list", "job", first, "--raw"], env,
                                     tmp_path))  # fmt: skip
        by_pipeline = {job["job"]["pipeline"]["name"]: job for job in listed}
        assert sorted(by_pipeline) == ["edges", "montage"]
        for name, job in by_pipeline.items():
            assert job["job"]["id"] == first
            assert job["state"] == "JOB_SUCCESS", job
            assert job["dagster_run_id"] == run["runId"], name
        assert by_pipeline["edges"]["output_commit"]["id"] == edges["output_commit"]
        assert by_pipeline["montage"]["output_commit"]["id"] == montage["output_commit"]

        # One more picture (its run overlaps the grid batch's): only the new datum is processed.
        second = seed_images(env, tmp_path, count=1, start=2)

        batch_runs = check_grid_batch(dev, env, tmp_path)
        # One cell once more, launched through GraphQL with only its partition key (the UI's
        # "Materialize" on a partition): the step finds its parameters in the store's key map.
        key = sorted(batch_runs)[-1]
        launched = client.submit_job_execution(GRID_JOB, tags={PARTITION_TAG: key})

        (rerun,) = dev.wait_for(
            f"the run for images@{second}", lambda: dev.finished_runs_tagged(GLOBAL_ID_TAG, second)
        )
        assert rerun["status"] == "SUCCESS", dev.run_errors(rerun["runId"])
        run_id, edges = dev.latest_materialization("edges")
        assert (run_id, edges["global_id"]) == (rerun["runId"], second)
        assert edges["progress"] == "1 + 2 / 3"  # the two old pictures are skipped
        jobs = raw_records(run_cli([str(BIN / "dvctl"), "list", "job", "-p", "edges", "--raw"],
                                   env, tmp_path))  # fmt: skip
        assert sorted(j["job"]["id"] for j in jobs) == sorted([first, second])
        (job,) = (j for j in jobs if j["job"]["id"] == second)
        assert (job["data_processed"], job["data_skipped"]) == ("1", "2")

        # The run launched through GraphQL ran the cell of its partition key.
        status = dev.wait_for(f"the launched run {launched}", lambda: run_ended(client, launched))
        assert status == "SUCCESS", dev.run_errors(launched)
        events = dev.partition_materializations([GRID_JOB, "fit"], [key])
        (event,) = (e for e in events if e["runId"] == launched)
        assert event["metadata"]["parameters"] == as_run_params(cell_of_key(key))

        # dvctl reads the batch's run states the sensor copied into the store: Dagster's.
        states = dev.wait_for(
            "dvctl to see the batch end", lambda: dvctl_grid_states(env, tmp_path)
        )
        seen = {state["run_id"]: state["status"] for state in states.values()}
        assert seen == dict.fromkeys(batch_runs.values(), "SUCCESS")
