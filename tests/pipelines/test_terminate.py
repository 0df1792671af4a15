"""Terminating a run in the Dagster UI kills its job: KILLED with a reason, no output commit.

The run is real: ``dagster-webserver`` serves a definitions file, the run is launched through
GraphQL (the launchpad's mutation) and executes in a run worker that the webserver's code
server starts, and it is terminated with GraphQL's ``terminateRun`` — what the UI's Terminate
button sends; the run launcher then interrupts the worker. The datum is a command that sleeps,
so the test also checks that the command itself is gone.
"""

from __future__ import annotations

import json
import os
import textwrap
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster_graphql import DagsterGraphQLClient
from e2e.deployment import BIN, deployment, free_port, raw_records, run_cli

from dagster_versioned.errors import NotFound
from dagster_versioned.io.tags import GLOBAL_ID_TAG, INPUT_COMMIT_TAG
from dagster_versioned.pps.jobs import JobState, JobStore
from dagster_versioned.store import Store

pytestmark = [pytest.mark.slow, pytest.mark.dagster]

DAGSTER_YAML = """
telemetry:
  enabled: false
run_coordinator:
  module: dagster.core.run_coordinator
  class: DefaultRunCoordinator
"""

DEFINITIONS = """
import dagster as dg

from dagster_versioned import pipeline_from_spec, versioned_definitions

defs = versioned_definitions(
    [pipeline_from_spec({spec!r})],
    storage={storage!r},
    jobs=[dg.define_asset_job("sleepy_job", selection=[dg.AssetKey("sleepy")])],
)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return not (status.exists() and status.read_text().split()[2] == "Z")  # zombies are gone


def test_terminating_the_run_in_the_ui_kills_the_job(tmp_path: Path):
    storage = str(tmp_path / "store")
    store = Store.open(storage)
    store.create_repo("images")
    pid_file = tmp_path / "datum.pid"
    spec = tmp_path / "sleepy.json"
    spec.write_text(
        json.dumps(
            {
                "pipeline": {"name": "sleepy"},
                "input": {"pfs": {"repo": "images", "glob": "/*"}},
                "transform": {"cmd": ["sh", "-c", f"echo $$ > {pid_file}; exec sleep 300"]},
                "datum_tries": 3,
            }
        )
    )
    (tmp_path / "defs.py").write_text(
        textwrap.dedent(DEFINITIONS).format(spec=str(spec), storage=storage)
    )
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    with dg.DagsterInstance.from_config(str(home)):
        pass  # storage created before the webserver and its run workers open it
    commit = store.put_file("images@master:/a.png", b"picture")
    assert commit is not None
    gid = commit.id
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    port = free_port()
    command = [str(BIN / "dagster-webserver"), "-f", "defs.py", "-h", "127.0.0.1", "-p", str(port)]
    with deployment([command], port=port, cwd=tmp_path, env=env, logs=tmp_path) as web:
        web.wait_for("the webserver", web.answers_graphql)
        client = DagsterGraphQLClient("127.0.0.1", port_number=port)
        run_id = client.submit_job_execution(
            "sleepy_job", tags={GLOBAL_ID_TAG: gid, INPUT_COMMIT_TAG: f"images@{gid}"}
        )
        jobs = JobStore(store)

        def datum_sleeping() -> int | None:
            job = jobs.find_job("sleepy", gid)
            running = job is not None and job.state == JobState.RUNNING
            text = pid_file.read_text().strip() if pid_file.exists() else ""
            return int(text) if running and text else None

        pid = web.wait_for("the datum's command to start", datum_sleeping)
        client.terminate_run(run_id)
        web.wait_for(
            "the run to be canceled",
            lambda: client.get_run_status(run_id) == dg.DagsterRunStatus.CANCELED,
        )
        job = web.wait_for(
            "the job to end",
            lambda: (j := jobs.load_job("sleepy", gid)).state.terminal and j,
        )
        deadline = time.monotonic() + 20
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not alive(pid), "the datum's command outlived the terminated run"
    assert job.state == JobState.KILLED
    assert "run terminated" in job.reason
    assert job.dagster_run_id == run_id
    assert job.output_commit is None
    with pytest.raises(NotFound):
        store.inspect_commit(f"sleepy@{gid}")
    assert pid_file.read_text().strip() == str(pid)  # one try only: no retry after the kill
    env["DAGSTER_VERSIONED_STORAGE"] = storage
    listing = run_cli([str(BIN / "dvctl"), "list", "job", "-p", "sleepy"], env, tmp_path)
    (row,) = [line for line in listing.splitlines() if gid in line]
    assert "killed" in row
    raw = raw_records(run_cli([str(BIN / "dvctl"), "list", "job", gid, "--raw"], env, tmp_path))
    assert [(r["job"]["pipeline"]["name"], r["state"]) for r in raw] == [("sleepy", "JOB_KILLED")]
    assert "run terminated" in raw[0]["reason"]
