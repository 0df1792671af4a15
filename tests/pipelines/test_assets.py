"""Pipelines as Dagster assets: one run per head move is one global job across the DAG."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from dagster_versioned import Datum, cross, pfs, pipeline, versioned_definitions
from dagster_versioned.io.tags import GLOBAL_ID_TAG, INPUT_COMMIT_TAG
from dagster_versioned.pps.jobs import JobState, JobStore
from dagster_versioned.store import Store, Trigger


@pipeline(input=pfs("images", glob="/*"))
def edges(datum: Datum) -> None:
    """Lower-cases every image (a stand-in for edge detection)."""
    for src in datum.files("images"):
        (datum.out / src.name).write_bytes(src.read_bytes().lower())


@pipeline(input=cross(pfs("images", glob="/"), pfs("edges", glob="/")))
def montage(datum: Datum) -> None:
    """Lists every image and edge file it sees."""
    seen = sorted(f"{n}:{p.name}" for n in datum.input_names for p in datum.files(n))
    (datum.out / "montage.txt").write_text("\n".join(seen))


@pytest.fixture
def storage(tmp_path: Path) -> str:
    url = str(tmp_path / "store")
    Store.open(url).create_repo("images")
    return url


def run_sensor_requests(
    defs: dg.Definitions, name: str, instance: dg.DagsterInstance, cursor: str | None = None
) -> dg.SensorResult:
    sensor = defs.get_sensor_def(name)
    context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
    return sensor(context)


def execute_request(
    defs: dg.Definitions, request: dg.RunRequest, instance: dg.DagsterInstance
) -> dg.ExecuteInProcessResult:
    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        instance=instance,
        tags=request.tags,
        asset_selection=[dg.AssetKey("edges"), dg.AssetKey("montage")],
    )


def test_definitions_hold_pipeline_assets_source_assets_and_sensors(storage):
    defs = versioned_definitions([edges, montage], storage=storage)
    repo = defs.get_repository_def()
    keys = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    assert {"images", "edges", "montage"} <= keys
    sensor_names = {s.name for s in repo.sensor_defs}
    assert "dv_images_master" in sensor_names
    assert "dv_branch_triggers" in sensor_names
    assert defs.get_sensor_def("dv_images_master").default_status == dg.DefaultSensorStatus.RUNNING


def test_a_head_move_runs_the_whole_dag_as_one_global_job(storage):
    store = Store.open(storage)
    defs = versioned_definitions([edges, montage], storage=storage)
    with dg.instance_for_test() as instance:
        store.put_file("images@master:/a.png", b"AAA")
        first = run_sensor_requests(defs, "dv_images_master", instance)
        (request,) = first.run_requests
        gid = request.tags[GLOBAL_ID_TAG]
        assert gid == store.inspect_commit("images@master").id
        result = execute_request(defs, request, instance)
        assert result.success
        jobs = JobStore(store).list_job_set(gid)
        assert sorted((j.pipeline, j.state) for j in jobs) == [
            ("edges", JobState.SUCCESS),
            ("montage", JobState.SUCCESS),
        ]
        assert sorted(c.repo for c in store.list_commit_set(gid)) == ["edges", "images", "montage"]
        mat = result.asset_materializations_for_node("edges")[0]
        assert mat.metadata["global_id"].value == gid
        assert mat.metadata["progress"].value == "1 + 0 / 1"
        assert mat.metadata["output_commit"].value == gid

        with store.commit("images@master") as c:
            for name in ("b.png", "c.png", "d.png"):
                c.put_file(f"/{name}", name.upper().encode())
        second = run_sensor_requests(defs, "dv_images_master", instance, cursor=first.cursor)
        (request,) = second.run_requests
        result = execute_request(defs, request, instance)
        mat = result.asset_materializations_for_node("edges")[0]
        assert mat.metadata["progress"].value == "3 + 1 / 4"


def test_the_run_reads_the_commit_it_was_started_for(storage):
    store = Store.open(storage)
    defs = versioned_definitions([edges], storage=storage)
    store.put_file("images@master:/a.png", b"OLD")
    pinned = store.inspect_commit("images@master").id
    store.put_file("images@master:/a.png", b"NEW")
    with dg.instance_for_test() as instance:
        job = defs.resolve_implicit_global_asset_job_def()
        result = job.execute_in_process(
            instance=instance,
            asset_selection=[dg.AssetKey("edges")],
            tags={GLOBAL_ID_TAG: pinned, INPUT_COMMIT_TAG: f"images@{pinned}"},
        )
    assert result.success
    assert store.get_file(f"edges@{pinned}:/a.png") == b"old"


def test_a_failing_pipeline_fails_the_run_with_the_job_reason(storage):
    @pipeline(input=pfs("images"), datum_tries=2)
    def broken(datum: Datum) -> None:
        raise RuntimeError("model diverged")

    store = Store.open(storage)
    store.put_file("images@master:/a.png", b"x")
    defs = versioned_definitions([broken], storage=storage)
    with dg.instance_for_test() as instance:
        job = defs.resolve_implicit_global_asset_job_def()
        result = job.execute_in_process(
            instance=instance, asset_selection=[dg.AssetKey("broken")], raise_on_error=False
        )
    assert not result.success
    (job_info,) = JobStore(store).list_jobs("broken")
    assert job_info.state == JobState.FAILURE
    assert "model diverged" in job_info.reason


def test_an_input_trigger_creates_its_branch_and_the_pipeline_reads_it(storage):
    @pipeline(input=pfs("images", glob="/*", trigger=Trigger(branch="master", size="1K")))
    def deferred(datum: Datum) -> None:
        for src in datum.files():
            (datum.out / src.name).write_bytes(src.read_bytes())

    store = Store.open(storage)
    defs = versioned_definitions([deferred], storage=storage)
    branch = store.inspect_branch("images@deferred-trigger-1")
    assert branch.trigger is not None
    assert branch.trigger.describe() == "master on Size(1K)"
    assert "dv_images_deferred_trigger_1" in {s.name for s in defs.get_repository_def().sensor_defs}
    store.put_file("images@master:/small", b"x" * 10)
    assert (
        store.inspect_branch("images@deferred-trigger-1").head
        != store.inspect_commit("images@master").id
    )
    store.put_file("images@master:/big", b"x" * 2000)
    assert (
        store.inspect_branch("images@deferred-trigger-1").head
        == store.inspect_commit("images@master").id
    )


def test_a_fanned_out_pipeline_spreads_datums_over_one_step_per_batch(storage):
    @pipeline(input=pfs("images", glob="/*"), fan_out=3)
    def spread(datum: Datum) -> None:
        for src in datum.files():
            (datum.out / src.name).write_bytes(src.read_bytes()[::-1])

    store = Store.open(storage)
    with store.commit("images@master") as c:
        for i in range(7):
            c.put_file(f"/{i}.txt", f"abc{i}".encode())
    defs = versioned_definitions([spread], storage=storage)
    with dg.instance_for_test() as instance:
        job = defs.resolve_implicit_global_asset_job_def()
        result = job.execute_in_process(instance=instance, asset_selection=[dg.AssetKey("spread")])
        assert result.success
        steps = {e.step_key for e in result.all_events if e.step_key}
        assert sum(1 for s in steps if "spread__datums" in s) == 3
        mat = result.asset_materializations_for_node("spread")[0]
        assert mat.metadata["progress"].value == "7 + 0 / 7"
    assert store.get_file("spread@master:/3.txt") == b"3cba"
    store.put_file("images@master:/3.txt", b"changed")
    with dg.instance_for_test() as instance:
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, asset_selection=[dg.AssetKey("spread")]
        )
        mat = result.asset_materializations_for_node("spread")[0]
        assert mat.metadata["progress"].value == "1 + 6 / 7"


def test_jobs_below_a_failed_pipeline_end_unrunnable_not_created(storage):
    @pipeline(input=pfs("images"), datum_tries=1)
    def first(datum: Datum) -> None:
        raise RuntimeError("broken image")

    @pipeline(input=pfs("first", glob="/"))
    def second(datum: Datum) -> None:
        pass

    store = Store.open(storage)
    store.put_file("images@master:/a.png", b"x")
    defs = versioned_definitions([first, second], storage=storage)
    with dg.instance_for_test() as instance:
        job = defs.resolve_implicit_global_asset_job_def()
        result = job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            asset_selection=[dg.AssetKey("first"), dg.AssetKey("second")],
        )
        assert not result.success
        gid = instance.get_run_by_id(result.run_id).tags[GLOBAL_ID_TAG]
    states = {j.pipeline: j.state for j in JobStore(store).list_job_set(gid)}
    assert states == {"first": JobState.FAILURE, "second": JobState.UNRUNNABLE}


def test_a_canceled_run_ends_its_unfinished_jobs_killed(storage):
    store = Store.open(storage)
    defs = versioned_definitions([edges, montage], storage=storage)
    from dagster_versioned.pps.lifecycle import create_job

    gid = "c" * 32
    with dg.instance_for_test() as instance:
        run = instance.create_run_for_job(
            defs.resolve_implicit_global_asset_job_def(), tags={GLOBAL_ID_TAG: gid}
        )
        for p in (edges, montage):
            create_job(store, p.spec, gid, run.run_id)
        instance.report_run_canceled(run)
        sensor = defs.get_sensor_def("dv_canceled_runs")
        event = next(
            e
            for e in instance.all_logs(run.run_id)
            if e.dagster_event and e.dagster_event.event_type_value == "PIPELINE_CANCELED"
        )
        context = dg.build_run_status_sensor_context(
            sensor_name=sensor.name,
            dagster_instance=instance,
            dagster_run=instance.get_run_by_id(run.run_id),
            dagster_event=event.dagster_event,
        )
        sensor(context)
    states = {j.pipeline: (j.state, j.reason) for j in JobStore(store).list_job_set(gid)}
    assert states == {
        "edges": (JobState.KILLED, "the run was canceled"),
        "montage": (JobState.KILLED, "the run was canceled"),
    }


def test_a_run_that_succeeds_with_a_job_unfinished_ends_that_job_failed(storage):
    """An executor that drops steps (dagster-dask never ran dynamic outputs' steps) leaves a
    successful run with a job that never finished: that job must not look like a success."""
    store = Store.open(storage)
    store.put_file("images@master:/a.png", b"AAA")
    defs = versioned_definitions([edges, montage], storage=storage)
    with dg.instance_for_test() as instance:
        gid = store.inspect_commit("images@master").id
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, tags={GLOBAL_ID_TAG: gid}, asset_selection=[dg.AssetKey("edges")]
        )
        assert result.success
        from dagster_versioned.pps.lifecycle import create_job

        create_job(store, montage.spec, gid, result.run_id)  # a step the executor dropped
        sensor = defs.get_sensor_def("dv_success_runs")
        event = next(
            e
            for e in instance.all_logs(result.run_id)
            if e.dagster_event and e.dagster_event.event_type_value == "PIPELINE_SUCCESS"
        )
        sensor(
            dg.build_run_status_sensor_context(
                sensor_name=sensor.name,
                dagster_instance=instance,
                dagster_run=instance.get_run_by_id(result.run_id),
                dagster_event=event.dagster_event,
            )
        )
    states = {j.pipeline: j.state for j in JobStore(store).list_job_set(gid)}
    assert states == {"edges": JobState.SUCCESS, "montage": JobState.FAILURE}
    reason = JobStore(store).load_job("montage", gid).reason
    assert "never finished this job" in reason
