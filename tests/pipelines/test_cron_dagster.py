"""A cron pipeline under Dagster: the cron sensor commits ticks, each tick is one run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg

from dagster_versioned import Datum, pfs, pipeline, versioned_definitions
from dagster_versioned.io.tags import GLOBAL_ID_TAG
from dagster_versioned.pipelines.cron import CRON_SENSOR_NAME, cron_tick_sensor
from dagster_versioned.pps.cron import commit_due_ticks, tick_files
from dagster_versioned.pps.inputs import cron, cron_inputs
from dagster_versioned.store import Store


def stamp(datum: Datum) -> None:
    """Writes one file per tick it sees."""
    for f in datum.files("tick"):
        (datum.out / f"{f.name}.seen").write_text(f.name)


def run_sensor(defs: dg.Definitions, name: str, instance: dg.DagsterInstance, cursor=None):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
    return defs.get_sensor_def(name)(context)


def materialise(defs: dg.Definitions, request: dg.RunRequest, instance: dg.DagsterInstance):
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        instance=instance, tags=request.tags, asset_selection=[dg.AssetKey("stamp")]
    )
    assert result.success
    (event,) = result.asset_materializations_for_node("stamp")
    return event


def test_a_cron_pipeline_materialises_once_per_tick_with_the_tick_commit_id(tmp_path: Path):
    storage = str(tmp_path / "store")
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(seconds=90)  # one tick due (start + 60s), the next in 30s
    ticker = pipeline(stamp, name="stamp", input=cron("tick", "@every 1m", start=start))
    defs = versioned_definitions([ticker], storage=storage)
    store = Store.open(storage)
    assert store.inspect_repo("stamp_tick").name == "stamp_tick"  # made with the pipeline
    assert tick_files(store, "stamp_tick") == []
    with dg.instance_for_test() as instance:
        ticked = run_sensor(defs, CRON_SENSOR_NAME, instance)
        assert ticked.skip_message == "1 cron tick(s) committed"
        first = run_sensor(defs, "dv_stamp_tick_master", instance)
        (request,) = first.run_requests
        tick = store.inspect_commit("stamp_tick@master")
        assert request.tags[GLOBAL_ID_TAG] == tick.id
        event = materialise(defs, request, instance)
        head = store.inspect_commit("stamp@master")
        assert head.id == tick.id
        assert event.tags["dagster/data_version"] == head.root.node  # the output, by content

        (inp,) = cron_inputs(ticker.spec.input)
        (second,) = commit_due_ticks(store, inp, start + timedelta(seconds=120))
        nxt = run_sensor(defs, "dv_stamp_tick_master", instance, cursor=first.cursor)
        (request,) = nxt.run_requests
        assert request.tags[GLOBAL_ID_TAG] == second.id
        event = materialise(defs, request, instance)
        head = store.inspect_commit("stamp@master")
        assert head.id == second.id
        assert event.tags["dagster/data_version"] == head.root.node
    seen = sorted(f.path for f in store.list_file("stamp@master:/"))
    names = [(start + timedelta(seconds=s)).strftime("%Y-%m-%dT%H:%M:%SZ") for s in (60, 120)]
    assert seen == [f"/{n}.seen" for n in names]


def test_the_cron_sensor_commits_every_due_tick_of_every_cron_pipeline(tmp_path: Path):
    storage = str(tmp_path / "store")
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    hourly = pipeline(stamp, name="hourly", input=cron("tick", "@hourly", start=t0))
    fast = pipeline(stamp, name="fast", input=cron("tick", "*/20 * * * *", start=t0))
    sensor = cron_tick_sensor(
        [hourly, fast], storage=storage, clock=lambda: t0 + timedelta(hours=1)
    )
    with dg.instance_for_test() as instance:
        result = sensor(dg.build_sensor_context(instance=instance))
        assert result.skip_message == "4 cron tick(s) committed"
        again = sensor(dg.build_sensor_context(instance=instance))
        assert again.skip_message == "no cron tick due"
    store = Store.open(storage)
    assert len(store.list_file("hourly_tick@master:/")) == 1
    assert len(store.list_file("fast_tick@master:/")) == 3


def test_definitions_without_cron_inputs_have_no_cron_sensor(tmp_path: Path):
    storage = str(tmp_path / "store")
    Store.open(storage).create_repo("images")
    plain = pipeline(stamp, name="plain", input=pfs("images"))
    names = {s.name for s in versioned_definitions([plain], storage=storage).sensors or ()}
    assert CRON_SENSOR_NAME not in names
