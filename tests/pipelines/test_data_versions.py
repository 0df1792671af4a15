"""A pipeline asset's data version is its output tree, so an unchanged output changes nothing.

Declarative Automation below a pipeline: ``eager_on_data_change()`` runs a downstream asset once
per changed output and not for a job that wrote the same files; plain ``eager()`` reruns on
every materialization (it looks at updates, not data versions) — both shown here, evaluated
in process as the automation-condition sensor would.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from dagster_versioned import Datum, eager_on_data_change, pfs, pipeline, versioned_definitions
from dagster_versioned.store import Store


@pipeline(input=pfs("images", glob="/"), automation_condition=dg.AutomationCondition.eager())
def counted(datum: Datum) -> None:
    """The number of images: editing an image leaves it as it was."""
    (datum.out / "count.txt").write_text(str(len(datum.files("images"))))


@dg.asset(deps=[counted.key], automation_condition=eager_on_data_change())
def on_change() -> None: ...


@dg.asset(deps=[counted.key], automation_condition=dg.AutomationCondition.eager())
def on_update() -> None: ...


@pytest.fixture
def storage(tmp_path: Path) -> str:
    url = str(tmp_path / "store")
    Store.open(url).create_repo("images")
    return url


class Daemon:
    """The branch sensor's runs plus automation ticks, in process, counting requested runs."""

    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance) -> None:
        self.defs, self.instance = defs, instance
        self.cursor = None
        self.sensor_cursor: str | None = None
        self.requested: dict[str, int] = {"on_change": 0, "on_update": 0}
        self.tick()  # the first evaluation only records where things stand

    def run(self, keys: list[dg.AssetKey], tags: dict[str, str] | None = None) -> None:
        job = self.defs.resolve_implicit_global_asset_job_def()
        result = job.execute_in_process(
            instance=self.instance, asset_selection=keys, tags=tags or {}
        )
        assert result.success

    def commit_landed(self) -> None:
        sensor = self.defs.get_sensor_def("dv_images_master")
        context = dg.build_sensor_context(
            instance=self.instance, cursor=self.sensor_cursor, definitions=self.defs
        )
        result = sensor(context)
        self.sensor_cursor = result.cursor
        for request in result.run_requests:
            self.run([counted.key], request.tags)
        self.tick()

    def tick(self) -> None:
        result = dg.evaluate_automation_conditions(
            defs=self.defs,
            instance=self.instance,
            asset_selection=dg.AssetSelection.assets(on_change, on_update),
            cursor=self.cursor,
        )
        self.cursor = result.cursor
        wanted = [k for k in (on_change.key, on_update.key) if result.get_num_requested(k)]
        for key in wanted:
            self.requested[key.to_user_string()] += 1
        if wanted:
            self.run(wanted)
            self.tick()  # the daemon's next tick sees the run it launched as handled


def test_the_data_version_is_the_output_tree_and_repeats_for_an_identical_output(storage):
    store = Store.open(storage)
    defs = versioned_definitions([counted], storage=storage, assets=[on_change, on_update])
    with dg.instance_for_test() as instance:
        daemon = Daemon(defs, instance)
        store.put_file("images@master:/a.png", b"A")
        daemon.commit_landed()
        first = instance.get_latest_materialization_event(counted.key)
        store.put_file("images@master:/a.png", b"a different picture")  # count stays 1
        daemon.commit_landed()
        second = instance.get_latest_materialization_event(counted.key)

    def version(event) -> str:
        return event.asset_materialization.tags["dagster/data_version"]

    assert second.run_id != first.run_id
    assert version(second) == version(first)
    head = store.inspect_commit("counted@master")
    assert version(second) == head.root.node


def test_eager_on_data_change_runs_once_per_changed_output_and_not_for_an_identical_one(storage):
    store = Store.open(storage)
    defs = versioned_definitions([counted], storage=storage, assets=[on_change, on_update])
    with dg.instance_for_test() as instance:
        daemon = Daemon(defs, instance)
        store.put_file("images@master:/a.png", b"A")
        daemon.commit_landed()
        assert daemon.requested == {"on_change": 1, "on_update": 1}  # missing, then made

        store.put_file("images@master:/a.png", b"a different picture")
        daemon.commit_landed()
        assert daemon.requested == {"on_change": 1, "on_update": 2}  # same output: no rerun

        store.put_file("images@master:/b.png", b"B")
        daemon.commit_landed()
        assert daemon.requested == {"on_change": 2, "on_update": 3}

        daemon.tick()  # nothing new: nothing requested
        assert daemon.requested == {"on_change": 2, "on_update": 3}


def test_the_pipeline_asset_carries_its_automation_condition(storage):
    defs = versioned_definitions([counted], storage=storage)
    asset = defs.resolve_assets_def(counted.key)
    assert asset.automation_conditions_by_key[counted.key] == dg.AutomationCondition.eager()
