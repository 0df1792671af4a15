"""What a pipeline's materialisation shows: input commits, the output diff, failed datums.

The asset page answers "which inputs made this", "what changed" and "which datums failed"
without a trip to ``dvctl``; a fanned-out pipeline carries the same data version (its output
tree) as a single-step one.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from dagster_versioned import Datum, pfs, pipeline, versioned_definitions
from dagster_versioned.store import Store


@pipeline(input=pfs("words", glob="/*"))
def upper(datum: Datum) -> None:
    """Upper-cases each file; a file named ``bad`` fails its datum."""
    for path in datum.files("words"):
        if path.name == "bad":
            raise ValueError(f"cannot read {path.name}")
        (datum.out / path.name).write_text(path.read_text().upper())


@pipeline(input=pfs("words", glob="/*"), fan_out=2, name="upper_spread")
def upper_spread(datum: Datum) -> None:
    for path in datum.files("words"):
        (datum.out / path.name).write_text(path.read_text().upper())


@pytest.fixture
def storage(tmp_path: Path) -> str:
    url = str(tmp_path / "store")
    Store.open(url).create_repo("words")
    return url


def materialize(defs: dg.Definitions, key: dg.AssetKey, instance: dg.DagsterInstance) -> bool:
    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        instance=instance, asset_selection=[key], raise_on_error=False
    ).success


def latest(instance: dg.DagsterInstance, key: dg.AssetKey) -> dg.AssetMaterialization:
    event = instance.get_latest_materialization_event(key)
    assert event is not None
    assert event.asset_materialization is not None
    return event.asset_materialization


def test_a_materialisation_lists_its_input_commits_and_the_output_diff(storage):
    store = Store.open(storage)
    store.put_file("words@master:/a", b"alpha")
    defs = versioned_definitions([upper], storage=storage)
    with dg.instance_for_test() as instance:
        assert materialize(defs, upper.key, instance)
        store.put_file("words@master:/b", b"beta")
        assert materialize(defs, upper.key, instance)
        meta = latest(instance, upper.key).metadata

    head = store.inspect_commit("words@master")
    assert meta["input_commits"].data == [f"words@{head.id} (master)"]
    rows = [(r.data["path"], r.data["change"], r.data["size"]) for r in meta["output_diff"].records]
    assert rows == [("/b", "added", 4)]  # /a was there before: not in the diff
    assert "failed_datums" not in meta


def test_a_failed_job_names_its_failed_datums_on_the_check_and_the_failure(storage):
    store = Store.open(storage)
    with store.commit("words@master") as c:
        c.put_file("/good", b"fine")
        c.put_file("/bad", b"broken")
    defs = versioned_definitions([upper], storage=storage)
    with dg.instance_for_test() as instance:
        assert not materialize(defs, upper.key, instance)
        check = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(upper.key, "datums_succeeded")]
        )[dg.AssetCheckKey(upper.key, "datums_succeeded")]
        evaluation = check.event.dagster_event.event_specific_data

    assert not evaluation.passed
    table = evaluation.metadata["failed_datums"]
    assert len(table.records) == 1
    failed = table.records[0].data
    assert "cannot read bad" in failed["error"]
    assert failed["datum"]  # the id ``dvctl list datum`` and a rerun name


def test_a_fanned_out_pipeline_has_its_output_tree_as_data_version(storage):
    store = Store.open(storage)
    with store.commit("words@master") as c:
        for name in "abcd":
            c.put_file(f"/{name}", name.encode())
    defs = versioned_definitions([upper_spread], storage=storage)
    with dg.instance_for_test() as instance:
        assert materialize(defs, upper_spread.key, instance)
        first = latest(instance, upper_spread.key)
        store.put_file("words@master:/a", b"a")  # same bytes: the same output tree
        assert materialize(defs, upper_spread.key, instance)
        second = latest(instance, upper_spread.key)

    head = store.inspect_commit("upper_spread@master")
    assert first.tags["dagster/data_version"] == head.root.node
    assert second.tags["dagster/data_version"] == first.tags["dagster/data_version"]
    assert [r.data["path"] for r in first.metadata["output_diff"].records] == [
        "/a",
        "/b",
        "/c",
        "/d",
    ]


def test_the_asset_description_names_the_output_repo(storage):
    defs = versioned_definitions([upper, upper_spread], storage=storage)
    assert (
        "`dv://upper@master/`" in defs.resolve_assets_def(upper.key).descriptions_by_key[upper.key]
    )
    spread = defs.resolve_assets_def(upper_spread.key).descriptions_by_key[upper_spread.key]
    assert "fanned out over 2 steps" in spread
