"""A real ``dagster-daemon`` follows a pipeline's output by content, not by update.

The branch sensor starts a pipeline run per commit; the automation-condition sensor, ticking in
the same daemon, starts the ordinary asset ``on_change`` (``eager_on_data_change()``) once per
changed output and never for a job that wrote the same files, while ``on_update`` (plain
``eager()``) runs after every materialisation. Runs are counted in the instance the daemon
writes to; nothing is evaluated in process.
"""

import time

import dagster as dg
import pytest

from dagster_versioned import INPUT_COMMIT_TAG
from dagster_versioned.store import Store
from dagster_versioned.testing.daemon import DagsterDaemon

DEFINITIONS = """
import dagster as dg

from dagster_versioned import Datum, eager_on_data_change, pfs, pipeline, versioned_definitions


@pipeline(input=pfs("images", glob="/"))
def counted(datum: Datum) -> None:
    (datum.out / "count.txt").write_text(str(len(datum.files("images"))))


@dg.asset(deps=[counted.key], automation_condition=eager_on_data_change())
def on_change() -> None: ...


@dg.asset(deps=[counted.key], automation_condition=dg.AutomationCondition.eager())
def on_update() -> None: ...


automation = dg.AutomationConditionSensorDefinition(
    "automation",
    target=dg.AssetSelection.assets(on_change, on_update),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=1,
)

defs = versioned_definitions(
    [counted],
    storage={storage!r},
    assets=[on_change, on_update],
    sensors=[automation],
    sensor_interval=1,
    executor=dg.in_process_executor,
)
"""


def finished_runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    runs = instance.get_runs()
    return [r for r in runs if r.is_finished]


def runs_of(instance: dg.DagsterInstance, asset: str) -> int:
    """Successful runs that materialised ``asset``."""
    key = dg.AssetKey(asset)
    records = instance.fetch_materializations(key, limit=1000).records
    return len({r.run_id for r in records})


def settled(instance: dg.DagsterInstance, commit_id: str, expect: dict[str, int]):
    """True once the pipeline run for ``commit_id`` finished, nothing is queued or running,
    and the counts reached ``expect`` (they never go past it: checked after a grace period)."""
    pipeline_runs = instance.get_runs(dg.RunsFilter(tags={INPUT_COMMIT_TAG: f"images@{commit_id}"}))
    if not pipeline_runs or not pipeline_runs[0].is_finished:
        return False
    if len(finished_runs(instance)) != len(instance.get_runs()):
        return False
    counts = {name: runs_of(instance, name) for name in expect}
    return counts == expect


@pytest.mark.dagster
@pytest.mark.slow
def test_the_daemon_runs_a_data_version_follower_once_per_changed_output(tmp_path):
    storage = str(tmp_path / "store")
    store = Store.open(storage)
    store.create_repo("images")
    first = store.put_file("images@master:/a.png", b"A")
    project = tmp_path / "project"
    project.mkdir()
    (project / "definitions.py").write_text(DEFINITIONS.format(storage=storage))
    home = tmp_path / "dagster_home"
    with (
        DagsterDaemon(home, ["-f", "definitions.py"], cwd=project) as daemon,
        dg.DagsterInstance.from_config(str(home)) as instance,
    ):
        first_counts = {"counted": 1, "on_change": 1, "on_update": 1}
        daemon.wait_for("the first commit", lambda: settled(instance, first.id, first_counts))

        same = store.put_file("images@master:/a.png", b"another picture")  # count stays 1
        same_counts = {"counted": 2, "on_change": 1, "on_update": 2}
        daemon.wait_for("the same output", lambda: settled(instance, same.id, same_counts))

        changed = store.put_file("images@master:/b.png", b"B")  # count becomes 2
        changed_counts = {"counted": 3, "on_change": 2, "on_update": 3}
        daemon.wait_for("a new output", lambda: settled(instance, changed.id, changed_counts))

        time.sleep(5)  # several more automation ticks: nothing else may start
        assert {n: runs_of(instance, n) for n in changed_counts} == changed_counts
        runs = instance.get_runs()
        failed = [r.run_id for r in runs if r.status != dg.DagsterRunStatus.SUCCESS]
        assert failed == [], daemon.tail()
