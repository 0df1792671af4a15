"""Store names as Dagster names: one rule, so every module builds the same keys and names."""

from __future__ import annotations

import dagster as dg

from dagster_versioned.io.naming import branch_sensor_name, dagster_name
from dagster_versioned.io.sensors import branch_sensor
from dagster_versioned.io.sources import source_asset_key
from dagster_versioned.pipelines.context import asset_key_for


def test_characters_dagster_refuses_become_underscores_and_the_rest_stays() -> None:
    assert dagster_name("raw-images.v2") == "raw_images_v2"
    assert dagster_name("edges_2") == "edges_2"
    assert dagster_name("a/b c@d") == "a_b_c_d"


def test_a_repo_has_one_asset_key_whether_a_pipeline_writes_it_or_a_source_reads_it() -> None:
    assert asset_key_for("raw-images") == source_asset_key("raw-images")
    assert source_asset_key("raw-images") == dg.AssetKey(["raw_images"])


def test_a_branch_sensor_is_named_after_its_repo_and_branch() -> None:
    sensor = branch_sensor("raw-images", "dev-1", asset_selection=[dg.AssetKey(["x"])])

    assert sensor.name == branch_sensor_name("raw-images", "dev-1") == "dv_raw_images_dev_1"
