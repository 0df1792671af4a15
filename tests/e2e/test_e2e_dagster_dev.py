"""End to end as a new user meets it: ``dagster dev -f definitions.py``, seed data, runs appear.

Nothing is called in-process: ``dagster dev`` (webserver + daemon) serves the repo's own
``definitions.py`` on a free port with a temporary DAGSTER_HOME and store, the README's seed
script commits pictures to ``images@master``, and the test watches through the GraphQL API — the
API the UI uses — as the ``dv_images_master`` sensor starts a run for the commit and the run
materialises ``edges`` and ``montage``. ``dvctl list job`` must tell the same story.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest
from dagster_graphql import DagsterGraphQLClient

from dagster_versioned import GLOBAL_ID_TAG

from .deployment import BIN, ROOT, dagster_home, deployment, free_port, raw_records, run_cli

COMMIT_RE = re.compile(r"images@master is now ([0-9a-f]{32})")


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
def test_dagster_dev_runs_edges_and_montage_for_each_seeded_commit_and_dvctl_agrees(
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

        # One more picture: a new run in which only the new datum is processed.
        second = seed_images(env, tmp_path, count=1, start=2)
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
