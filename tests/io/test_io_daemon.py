"""End to end: a real ``dagster-daemon`` runs the branch sensor, and a commit becomes a run.

Nothing is clicked and nothing is called in-process: the test writes a code location, starts the
daemon on a fresh DAGSTER_HOME, commits to the input repo with the Store API (what ``dvctl put
file`` does) and waits for the run the sensor starts. The run's output commits carry the input
commit's id: one global id across the input repo, every output repo and the Dagster run.
"""

import dagster as dg
import pytest

from dagster_versioned import GLOBAL_ID_TAG, INPUT_COMMIT_TAG
from dagster_versioned.store import Store
from dagster_versioned.testing.daemon import DagsterDaemon

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


def runs_for(instance: dg.DagsterInstance, commit_id: str) -> list[dg.DagsterRun]:
    return list(instance.get_runs(dg.RunsFilter(tags={INPUT_COMMIT_TAG: f"images@{commit_id}"})))


@pytest.mark.dagster
@pytest.mark.slow
def test_a_commit_to_the_input_repo_starts_a_run_whose_outputs_carry_its_id(tmp_path):
    home, project = tmp_path / "dagster_home", tmp_path / "project"
    project.mkdir()
    storage = str(tmp_path / "store")
    (project / "definitions.py").write_text(DEFINITIONS.format(storage=storage))
    store = Store.open(storage)
    store.create_repo("images")
    first = store.put_file("images@master:/a.png", b"a")
    with (
        DagsterDaemon(home, ["-f", "definitions.py"], cwd=project, wait_seconds=120) as daemon,
        dg.DagsterInstance.from_config(str(home)) as instance,
    ):
        # The sensor's first tick runs the head it finds; after that, every move is a run.
        daemon.wait_for("the first tick's run", lambda: runs_for(instance, first.id))
        second = store.put_file("images@master:/b.png", b"b")

        def finished():
            runs = runs_for(instance, second.id)
            return runs if runs and runs[0].is_finished else None

        (run,) = daemon.wait_for(f"the run for commit {second.id}", finished)
        log = daemon.tail()

    assert run.status == dg.DagsterRunStatus.SUCCESS, log
    assert run.tags[GLOBAL_ID_TAG] == second.id
    assert store.inspect_commit(f"listing@{second.id}").id == second.id
    assert store.get_file(f"listing@{second.id}:/data.json") == b'["a.png", "b.png"]'
    assert store.get_file(f"count@{second.id}:/data.json") == b"2"
