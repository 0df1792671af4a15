"""End to end as deployed (docs/deploy.md): webserver and daemon apart, the store on S3.

``dagster-webserver`` and ``dagster-daemon run`` are separate processes sharing a DAGSTER_HOME
and a ``workspace.yaml``; the versioned store lives in a bucket on the moto S3 server, reached
through ``AWS_ENDPOINT_URL`` as an S3-compatible server would be. ``dvctl`` on the same
``DAGSTER_VERSIONED_STORAGE`` puts the pictures, the daemon's sensor starts the run, the
webserver's GraphQL API reports it, and ``dvctl list job`` agrees — for a run that succeeds and
for one whose datum fails.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from dagster_versioned import GLOBAL_ID_TAG
from dagster_versioned.store import Store

from .deployment import (
    BIN,
    dagster_home,
    deployed_commands,
    deployment,
    free_port,
    raw_records,
    run_cli,
    s3_env,
    successful_jobs,
    write_pictures,
    write_workspace,
)


@pytest.mark.dagster
@pytest.mark.slow
@pytest.mark.s3
def test_webserver_and_daemon_run_the_images_pipelines_on_an_s3_store_and_dvctl_agrees(
    tmp_path: Path, s3_server: str, s3_bucket: str, s3_storage_options: dict[str, Any]
) -> None:
    storage = f"s3://{s3_bucket}/store"
    env = {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home(tmp_path)),
        "DAGSTER_VERSIONED_STORAGE": storage,
        **s3_env(s3_server),
    }
    workspace = write_workspace(tmp_path)
    pictures = tmp_path / "pictures"
    write_pictures(pictures, {"red": (255, 0, 0), "blue": (0, 0, 255)})
    (pictures / "broken.png").write_bytes(b"not a picture")
    port = free_port()
    commands = deployed_commands(workspace, port)
    with deployment(commands, port=port, cwd=tmp_path, env=env, logs=tmp_path) as deployed:
        run_cli([str(BIN / "dvctl"), "create", "repo", "images"], env, tmp_path)
        run_cli(
            [str(BIN / "dvctl"), "put", "file", "images@master:/",
             "-f", str(pictures / "red.png"), "-f", str(pictures / "blue.png")],
            env, tmp_path,
        )  # fmt: skip
        store = Store.open(storage, **s3_storage_options)
        head = store.inspect_commit("images@master").id
        deployed.wait_for("the GraphQL endpoint", deployed.answers_graphql)

        run, edges = deployed.images_run_succeeded(head)
        by_pipeline = successful_jobs(head, run["runId"], env, tmp_path)
        assert by_pipeline["edges"]["output_commit"]["id"] == edges["output_commit"]
        # The outputs are in the bucket, under the global id, for anyone with the storage URL.
        assert sorted(f.path for f in store.list_file(f"edges@{head}:/")) == [
            "/blue.png",
            "/red.png",
        ]

        # A file that is not a picture: the datum fails, so do the Dagster run and the job, and
        # both say which datum and why.
        run_cli([str(BIN / "dvctl"), "put", "file", "images@master:/broken.png",
                 "-f", str(pictures / "broken.png")], env, tmp_path)  # fmt: skip
        broken = store.inspect_commit("images@master").id
        (failed,) = deployed.wait_for(
            f"the run for images@{broken}",
            lambda: deployed.finished_runs_tagged(GLOBAL_ID_TAG, broken),
        )
        errors = deployed.run_errors(failed["runId"])
        assert failed["status"] == "FAILURE", errors
        assert "UnidentifiedImageError" in errors, errors  # the run log says why ...
        assert "broken.png" in errors, errors  # ... and which file
        listed = raw_records(run_cli([str(BIN / "dvctl"), "list", "job", broken, "--raw"], env,
                                     tmp_path))  # fmt: skip
        by_pipeline = {job["job"]["pipeline"]["name"]: job for job in listed}
        edges_job = by_pipeline["edges"]
        assert (edges_job["state"], edges_job["dagster_run_id"]) == ("JOB_FAILURE", failed["runId"])
        assert (edges_job["data_failed"], edges_job["data_skipped"]) == ("1", "2")
        assert "broken.png" in edges_job["reason"]
        # montage never ran (Dagster skips a step whose upstream failed), so it has no output.
        assert by_pipeline["montage"]["state"] != "JOB_SUCCESS"
        assert "output_commit" not in by_pipeline["montage"]
