"""repo_source_asset: an input repo as an external asset whose data version is its head commit."""

import warnings
from pathlib import Path

import dagster as dg
import pytest

from dagster_versioned import VersionedIOManager, repo_source_asset
from dagster_versioned.io.sources import repo_observation_sensor


def tick(sensor, instance, cursor=None) -> dg.SensorResult:
    return sensor(dg.build_sensor_context(instance=instance, cursor=cursor))


def test_the_observed_data_version_is_the_branch_head_and_follows_it(local_dv, instance):
    store = local_dv.store
    store.create_repo("images")
    first = store.put_file("images@master:/a.png", b"a")
    source = repo_source_asset("images", storage=local_dv.url)
    sensor = repo_observation_sensor(source, storage=local_dv.url)

    result = tick(sensor, instance)
    (event,) = result.asset_events
    assert (event.asset_key, event.data_version) == (dg.AssetKey("images"), first.id)
    assert tick(sensor, instance, result.cursor).asset_events == []  # head did not move

    second = store.put_file("images@master:/b.png", b"b")
    (event,) = tick(sensor, instance, result.cursor).asset_events
    assert event.data_version == second.id
    instance.report_runless_asset_event(event)  # what the daemon does with a sensor's events
    record = instance.get_latest_data_version_record(dg.AssetKey("images"))
    assert record.asset_observation.data_version == second.id


def test_an_input_repo_is_an_asset_spec_not_a_deprecated_source_asset(local_dv):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no deprecation or beta warning from building it
        source = repo_source_asset("images", branch="dev", storage=local_dv.url)
    assert isinstance(source, dg.AssetSpec)
    assert source.metadata["dv/repo"] == "images"
    assert source.metadata["dv/branch"] == "dev"


def test_a_repo_name_with_a_dash_becomes_a_valid_asset_key_and_still_loads(local_dv):
    store = local_dv.store
    store.create_repo("raw-images")
    store.put_file("raw-images@dev:/a.png", b"a")
    source = repo_source_asset("raw-images", branch="dev", storage=local_dv.url)

    @dg.asset
    def names(raw_images: Path) -> list:
        return [p.name for p in raw_images.iterdir()]

    result = dg.materialize(
        [source, names], selection=[names],
        resources={"io_manager": VersionedIOManager(storage=local_dv.url)},
    )  # fmt: skip

    assert source.key == dg.AssetKey("raw_images")
    assert result.output_for_node("names") == ["a.png"]


def test_a_bad_repo_name_is_refused_when_the_asset_is_defined():
    with pytest.raises(Exception, match="Bad Name"):
        repo_source_asset("Bad Name")
