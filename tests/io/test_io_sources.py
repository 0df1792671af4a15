"""repo_source_asset: an input repo whose Dagster data version is its branch head commit."""

from pathlib import Path

import dagster as dg

from dagster_versioned import VersionedIOManager, repo_source_asset


def observe(source, instance) -> str:
    """Run the source asset's observation as Dagster does and return the observed data version."""
    job = dg.define_asset_job("observe", selection=dg.AssetSelection.assets(source.key))
    defs = dg.Definitions(assets=[source], jobs=[job])
    result = defs.resolve_job_def("observe").execute_in_process(instance=instance)
    (event,) = result.get_asset_observation_events()
    return event.asset_observation_data.asset_observation.data_version


def test_the_data_version_is_the_branch_head_and_follows_it(local_dv, instance):
    store = local_dv.store
    store.create_repo("images")
    first = store.put_file("images@master:/a.png", b"a")
    source = repo_source_asset("images", storage=local_dv.url)

    assert observe(source, instance) == first.id
    second = store.put_file("images@master:/b.png", b"b")
    assert observe(source, instance) == second.id
    record = instance.get_latest_data_version_record(dg.AssetKey("images"))
    assert record.asset_observation.data_version == second.id


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
