"""End to end: a real ``dagster-daemon`` runs the branch sensor, and a commit becomes a run.

Nothing is clicked and nothing is called in-process: the test writes a code location, starts the
daemon on a fresh DAGSTER_HOME, commits to the input repo with the Store API (what ``dvctl put
file`` does) and waits for the run the sensor starts. The run's output commits carry the input
commit's id: one global id across the input repo, every output repo and the Dagster run.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from dagster_versioned import GLOBAL_ID_TAG, INPUT_COMMIT_TAG
from dagster_versioned.store import Store

WAIT_SECONDS = 120

DEFINITIONS = """
from pathlib import Path

import dagster as dg

from dagster_versioned import VersionedIOManager, branch_sensors_for, repo_source_asset

STORAGE = {storage!r}

images = repo_source_asset("images", storage=STORAGE)


@dg.asset
def listing(images: Path) -> list:
    return sorted(p.name for p in images.iterdir())


@dg.asset
def count(listing: list) -> int:
    return len(listing)


defs = dg.Definitions(
    assets=[images, listing, count],
    sensors=branch_sensors_for(
        [images, listing, count], storage=STORAGE, minimum_interval_seconds=1
    ),
    resources={{"io_manager": VersionedIOManager(storage=STORAGE)}},
    executor=dg.in_process_executor,  # one process per run: the test waits for two runs
)
"""

DAGSTER_YAML = """
telemetry:
  enabled: false
run_coordinator:
  module: dagster
  class: QueuedRunCoordinator
  config:
    dequeue_interval_seconds: 1
"""


def runs_for(instance: dg.DagsterInstance, commit_id: str) -> list[dg.DagsterRun]:
    return list(instance.get_runs(dg.RunsFilter(tags={INPUT_COMMIT_TAG: f"images@{commit_id}"})))


def wait_for(what: str, check, daemon: subprocess.Popen, log: Path):
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        if daemon.poll() is not None:
            pytest.fail(f"dagster-daemon exited ({daemon.returncode}):\n{log.read_text()[-4000:]}")
        time.sleep(0.5)
    pytest.fail(f"timed out after {WAIT_SECONDS}s waiting for {what}:\n{log.read_text()[-4000:]}")


@pytest.mark.dagster
@pytest.mark.slow
def test_a_commit_to_the_input_repo_starts_a_run_whose_outputs_carry_its_id(tmp_path):
    home, project = tmp_path / "dagster_home", tmp_path / "project"
    home.mkdir()
    project.mkdir()
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    storage = str(tmp_path / "store")
    (project / "definitions.py").write_text(DEFINITIONS.format(storage=storage))
    store = Store.open(storage)
    store.create_repo("images")
    first = store.put_file("images@master:/a.png", b"a")
    log = tmp_path / "daemon.log"
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    with log.open("wb") as out:
        daemon = subprocess.Popen(
            [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-f", "definitions.py"],
            cwd=project, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            # The sensor's first tick runs the head it finds; after that, every move is a run.
            wait_for("the first tick's run", lambda: runs_for(instance, first.id), daemon, log)
            second = store.put_file("images@master:/b.png", b"b")

            def finished():
                runs = runs_for(instance, second.id)
                return runs if runs and runs[0].is_finished else None

            (run,) = wait_for(f"the run for commit {second.id}", finished, daemon, log)

        assert run.status == dg.DagsterRunStatus.SUCCESS, log.read_text()[-4000:]
        assert run.tags[GLOBAL_ID_TAG] == second.id
        assert store.inspect_commit(f"listing@{second.id}").id == second.id
        assert store.get_file(f"listing@{second.id}:/data.json") == b'["a.png", "b.png"]'
        assert store.get_file(f"count@{second.id}:/data.json") == b"2"
    finally:
        # The daemon may have exited on its own (that is what a failure looks like): stopping it
        # must not raise over the assertion that explains why.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()
