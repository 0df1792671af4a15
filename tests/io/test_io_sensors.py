"""Branch sensors evaluated on a real Dagster instance: one run per head move, in order."""

from pathlib import Path

import dagster as dg
import pytest

from dagster_versioned import (
    GLOBAL_ID_TAG,
    INPUT_COMMIT_TAG,
    VersionedIOManager,
    branch_sensor,
    branch_sensors_for,
    repo_source_asset,
)
from dagster_versioned.io.sensors import input_repos
from dagster_versioned.store import Trigger


@dg.asset
def listing(images: Path) -> list:
    return sorted(p.name for p in images.iterdir())


@pytest.fixture
def images(local_dv):
    local_dv.store.create_repo("images")
    local_dv.store.put_file("images@master:/0.txt", b"0")
    return local_dv


def sensor_for(dv, **kwargs) -> dg.SensorDefinition:
    return branch_sensor("images", target=[listing], storage=dv.url, **kwargs)


def tick(sensor: dg.SensorDefinition, instance, cursor: str | None) -> dg.SensorResult:
    result = sensor(dg.build_sensor_context(instance=instance, cursor=cursor))
    assert isinstance(result, dg.SensorResult)
    return result


def commit_many(dv, n: int, start: int = 1) -> list[str]:
    return [dv.store.put_file(f"images@master:/{i}.txt", b"x").id for i in range(start, start + n)]


def test_a_new_sensor_runs_the_current_head_once(images, instance):
    head = images.store.inspect_branch("images@master")

    result = tick(sensor_for(images), instance, None)

    assert [r.tags[GLOBAL_ID_TAG] for r in result.run_requests] == [head.head]
    assert result.cursor == str(head.seq)


def test_a_burst_of_ten_moves_gives_ten_runs_in_order(images, instance):
    sensor = sensor_for(images)
    cursor = tick(sensor, instance, None).cursor
    ids = commit_many(images, 10)

    result = tick(sensor, instance, cursor)

    assert [r.tags[GLOBAL_ID_TAG] for r in result.run_requests] == ids
    assert [r.tags[INPUT_COMMIT_TAG] for r in result.run_requests] == [f"images@{i}" for i in ids]
    keys = [r.run_key for r in result.run_requests]
    assert len(set(keys)) == 10
    assert keys[0].startswith("images@master:")
    assert keys[0].endswith(ids[0])
    assert tick(sensor, instance, result.cursor).run_requests == []


def test_after_a_restart_the_saved_cursor_resumes_where_it_stopped(images, instance):
    sensor = sensor_for(images)
    cursor = tick(sensor, instance, None).cursor
    first = commit_many(images, 3)
    saved = tick(sensor, instance, cursor).cursor
    later = commit_many(images, 2, start=10)

    # A restarted daemon builds a fresh context from the cursor it stored: nothing is replayed.
    with dg.instance_for_test() as restarted:
        resumed = tick(sensor_for(images), restarted, saved)

    assert [r.tags[GLOBAL_ID_TAG] for r in resumed.run_requests] == later
    assert not set(first) & {r.tags[GLOBAL_ID_TAG] for r in resumed.run_requests}


def test_runs_per_tick_are_capped_and_the_rest_come_next_tick(images, instance):
    sensor = sensor_for(images, max_runs_per_tick=4)
    cursor = tick(sensor, instance, None).cursor
    ids = commit_many(images, 6)

    first = tick(sensor, instance, cursor)
    second = tick(sensor, instance, first.cursor)

    assert [r.tags[GLOBAL_ID_TAG] for r in first.run_requests] == ids[:4]
    assert [r.tags[GLOBAL_ID_TAG] for r in second.run_requests] == ids[4:]


def test_moves_by_trigger_and_by_head_count_but_a_config_change_does_not(images, instance):
    store = images.store
    store.create_branch("images@staging")
    store.create_branch("images@staging", trigger=Trigger(branch="master", commits=2))
    sensor = branch_sensor("images", "staging", target=[listing], storage=images.url)
    cursor = tick(sensor, instance, None).cursor
    old = store.inspect_commit("images@master").id

    store.create_branch("images@staging", head=f"images@{old}")  # a move by hand
    commit_many(images, 2)  # fires the trigger: staging moves to master's head

    result = tick(sensor, instance, cursor)
    assert [r.tags[GLOBAL_ID_TAG] for r in result.run_requests] == [
        old,
        store.inspect_commit("images@master").id,
    ]


def test_a_missing_repo_skips_and_keeps_the_cursor(local_dv, instance):
    sensor = branch_sensor("nothing", target=[listing], storage=local_dv.url)

    result = tick(sensor, instance, "7")

    assert result.run_requests is None or result.run_requests == []
    assert "nothing" in result.skip_reason.skip_message
    assert result.cursor == "7"


def test_the_requested_run_reads_its_commit_even_after_the_head_moved(images, instance):
    sensor = sensor_for(images)
    cursor = tick(sensor, instance, None).cursor
    wanted = commit_many(images, 1)[0]
    request = tick(sensor, instance, cursor).run_requests[0]
    commit_many(images, 2, start=5)  # the head moves on before the run starts

    result = dg.materialize(
        [repo_source_asset("images", storage=images.url), listing],
        selection=[listing], instance=instance, tags=request.tags,
        resources={"io_manager": VersionedIOManager(storage=images.url)},
    )  # fmt: skip

    assert result.output_for_node("listing") == ["0.txt", "1.txt"]
    assert images.store.inspect_commit("listing@master").id == wanted


def test_sensors_are_on_by_default():
    sensor = branch_sensor("images", target=[listing], storage="memory://unused")

    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.name == "dv_images_master"


@dg.asset(deps=["raw-logs"])
def parsed() -> int:
    return 1


@dg.asset
def summary(parsed: int, listing: list) -> int:
    return parsed + len(listing)


@dg.asset
def unrelated() -> int:
    return 0


def test_input_repos_are_found_from_source_assets_and_deps():
    images = repo_source_asset("images", branch="dev", storage="memory://unused")

    repos = input_repos([images, listing, parsed, summary, unrelated])

    assert repos == {
        ("images", "dev"): {dg.AssetKey("listing"), dg.AssetKey("summary")},
        ("raw-logs", "master"): {dg.AssetKey("parsed"), dg.AssetKey("summary")},
    }


def test_branch_sensors_for_builds_one_running_sensor_per_input_repo(images, instance):
    source = repo_source_asset("my-images", storage=images.url)
    images.store.create_repo("my-images")
    images.store.put_file("my-images@master:/a.txt", b"a")

    @dg.asset
    def my_listing(my_images: Path) -> list:
        return sorted(p.name for p in my_images.iterdir())

    sensors = branch_sensors_for([source, my_listing, parsed], storage=images.url)

    assert sorted(s.name for s in sensors) == ["dv_my_images_master", "dv_raw_logs_master"]
    assert {s.default_status for s in sensors} == {dg.DefaultSensorStatus.RUNNING}
    defs = dg.Definitions(
        assets=[source, my_listing, parsed], sensors=sensors,
        resources={"io_manager": VersionedIOManager(storage=images.url)},
    )  # fmt: skip
    sensor = defs.resolve_sensor_def("dv_my_images_master")
    request = sensor(dg.build_sensor_context(instance=instance, definitions=defs)).run_requests[0]
    job = defs.resolve_job_def(sensor.job_name)
    assert job.asset_layer.executable_asset_keys == {dg.AssetKey("my_listing")}
    result = job.execute_in_process(instance=instance, tags=request.tags)
    assert result.output_for_node("my_listing") == ["a.txt"]
