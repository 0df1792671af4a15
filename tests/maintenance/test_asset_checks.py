"""fsck and gc as Dagster asset checks, executed by a real Dagster instance."""

from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from dagster_versioned import VersionedStoreResource, store_health_checks
from dagster_versioned.errors import InvalidArgument
from dagster_versioned.store import Store
from dagster_versioned.store.objects import hash_bytes


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.open(str(tmp_path / "store"))
    s.create_repo("images")
    s.create_repo("my-data")
    with s.commit("images@master") as c:
        c.put_file("/a.png", b"alpha")
        c.put_file("/dir/b.png", b"beta")
    s.put_file("my-data@master:/rows.csv", b"1,2\n")
    return s


def run_checks(store: Store, **options: Any) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    """Execute every health check in process; evaluations by (asset, check name)."""
    images, data = dg.AssetSpec("images"), dg.AssetSpec("my_data")
    checks = store_health_checks(
        [images, data], repos={dg.AssetKey("my_data"): "my-data"}, **options
    )
    defs = dg.Definitions(
        assets=[images, data],
        asset_checks=checks,
        jobs=[dg.define_asset_job("health", selection=dg.AssetSelection.all_asset_checks())],
        resources={"versioned_store": VersionedStoreResource(storage=store.backend.url)},
    )
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("health").execute_in_process(instance=instance)
    assert result.success  # a failed check is a result, not a failed run
    return {
        (e.asset_key.to_user_string(), e.check_name): e
        for e in result.get_asset_check_evaluations()
    }


def test_a_clean_store_passes_fsck_and_gc_checks(store):
    found = run_checks(store)
    assert set(found) == {("images", "fsck"), ("my_data", "fsck"), ("images", "gc")}
    assert all(e.passed for e in found.values())
    fsck_images = found[("images", "fsck")]
    assert fsck_images.metadata["commits_checked"].value == 1
    assert fsck_images.metadata["problem_count"].value == 0
    assert found[("images", "gc")].metadata["reclaimable_objects"].value == 0


def test_the_fsck_check_fails_with_error_naming_a_deleted_object(store):
    oid = hash_bytes(b"beta")
    Path(store.backend.path(f"objects/{oid[:2]}/{oid}")).unlink()
    found = run_checks(store)
    failed = found[("images", "fsck")]
    assert not failed.passed
    assert failed.severity == dg.AssetCheckSeverity.ERROR
    assert failed.description is not None
    assert f"object {oid} is referenced but missing" in failed.description
    assert f"object {oid} is referenced but missing" in failed.metadata["problems"].value
    assert found[("my_data", "fsck")].passed  # only the damaged repo fails


def test_the_fsck_check_fails_on_a_ref_log_entry_pointing_at_a_missing_commit(store):
    latest = store.refs.latest("my-data", "master")
    store.refs.append(
        latest, repo="my-data", branch="master", head="f" * 32, reason="commit", trigger=None
    )
    found = run_checks(store)
    failed = found[("my_data", "fsck")]
    assert not failed.passed
    assert failed.severity == dg.AssetCheckSeverity.ERROR
    words = f"branch my-data@master: head {'f' * 32} is missing or unfinished"
    assert failed.description is not None
    assert words in failed.description
    assert words in failed.metadata["problems"].value
    assert found[("images", "fsck")].passed


def test_the_fsck_check_warns_about_leftovers_of_an_interrupted_finish(store):
    store.backend.write("repos/images/open-commits/" + "e" * 32 + "/op.json", b"{}")
    found = run_checks(store)
    warned = found[("images", "fsck")]
    assert not warned.passed
    assert warned.severity == dg.AssetCheckSeverity.WARN
    assert "dvctl fsck --fix" in (warned.description or "")
    assert "the writes to open commit images@eeee" in warned.metadata["leftovers"].value


def test_the_gc_check_reports_reclaimable_objects_and_warns_above_its_threshold(store):
    store.create_repo("scratch")
    store.put_file("scratch@master:/big", b"x" * 5000)
    store.delete_repo("scratch")
    quiet = run_checks(store, gc_grace=0)[("images", "gc")]
    assert quiet.passed
    assert quiet.metadata["reclaimable_objects"].value >= 1
    assert quiet.metadata["reclaimable_bytes"].value >= 5000
    loud = run_checks(store, gc_grace=0, gc_warn_bytes=1000)[("images", "gc")]
    assert not loud.passed
    assert loud.severity == dg.AssetCheckSeverity.WARN
    assert "run `dvctl gc`" in (loud.description or "")
    young = run_checks(store, gc_grace=3600)[("images", "gc")]
    assert young.metadata["reclaimable_objects"].value == 0
    assert young.metadata["kept_younger_than_grace"].value >= 1
    assert store.get_file("images@master:/a.png") == b"alpha"  # a dry run deletes nothing
    assert Store.open(store.backend.url).list_repo()


def test_versioned_definitions_put_the_checks_on_input_repos_and_they_run_on_demand(store):
    from dagster_versioned import Datum, pfs, pipeline, versioned_definitions

    @pipeline(input=pfs("images", glob="/*"))
    def thumbs(datum: Datum) -> None:  # never runs here: only the checks are executed
        raise AssertionError(datum)

    images = dg.AssetKey("images")
    selection = dg.AssetSelection.checks(
        dg.AssetCheckKey(images, "fsck"), dg.AssetCheckKey(images, "gc")
    )
    health = dg.define_asset_job("health", selection=selection)
    defs = versioned_definitions([thumbs], storage=store.backend.url, jobs=[health])
    checks = defs.resolve_asset_graph().asset_check_keys
    assert dg.AssetCheckKey(dg.AssetKey("images"), "fsck") in checks
    assert dg.AssetCheckKey(dg.AssetKey("images"), "gc") in checks
    assert not [k for k in checks if k.asset_key == dg.AssetKey("thumbs") and k.name == "fsck"]
    oid = hash_bytes(b"alpha")
    Path(store.backend.path(f"objects/{oid[:2]}/{oid}")).write_bytes(b"tampered")
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("health").execute_in_process(instance=instance)
    found = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(found) == {"fsck", "gc"}  # the checks only: no pipeline ran
    assert not found["fsck"].passed
    assert f"object {oid} is corrupt: its bytes do not match its hash" in (
        found["fsck"].description or ""
    )
    on_pipeline = store_health_checks([thumbs], name_prefix="thumbs_health")
    assert {k for c in on_pipeline for k in c.check_keys} == {
        dg.AssetCheckKey(dg.AssetKey("thumbs"), "fsck"),
        dg.AssetCheckKey(dg.AssetKey("thumbs"), "gc"),
    }
    plain = versioned_definitions([thumbs], storage=store.backend.url, health_checks=False)
    assert {k.name for k in plain.resolve_asset_graph().asset_check_keys} == {"datums_succeeded"}


def test_a_negative_grace_or_threshold_is_a_clear_error():
    with pytest.raises(InvalidArgument, match="gc_grace=-1"):
        store_health_checks(["images"], gc_grace=-1)
    with pytest.raises(InvalidArgument, match="neither may be negative"):
        store_health_checks(["images"], gc_warn_bytes=-5)
