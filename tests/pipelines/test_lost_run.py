"""The ``dv_lost_workers`` sensor on a real Dagster instance: it ends the job of a lost worker
and fails its run when nothing else will (a run worker whose code server is gone too).

The end-to-end kill is in test_worker_kill.py; there the code server that started the run
worker sees it die and fails the run itself, so the sensor's own run failure is checked here.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.test_utils import create_run_for_test

from dagster_versioned import pfs, pipeline, versioned_definitions
from dagster_versioned.pipelines.definitions import RUN_GRACE, lost_workers_sensor
from dagster_versioned.pps.jobs import JobInfo, JobState, JobStore
from dagster_versioned.pps.leases import list_leases, new_lease
from dagster_versioned.store import Store
from dagster_versioned.store.commits import now

pytestmark = pytest.mark.dagster

JOB = "b" * 32


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


@pytest.fixture
def storage(tmp_path: Path) -> str:
    return str(tmp_path / "store")


def lost_worker_of_a_started_run(
    instance: dg.DagsterInstance, storage: str, *, silent_for: float
) -> str:
    """A STARTED run whose job is RUNNING and whose only worker is dead; returns the run id."""
    run = create_run_for_test(instance, status=dg.DagsterRunStatus.STARTED)
    jobs = JobStore(Store.open(storage))
    jobs.create_job(JobInfo(pipeline="edges", id=JOB, created=now(), dagster_run_id=run.run_id))
    jobs.update_job(jobs.load_job("edges", JOB), lambda c: c.with_state(JobState.RUNNING))
    proc = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(0,))
    proc.start()
    proc.join()
    lease = new_lease("edges", JOB, restart=0, run_id=run.run_id, step="datums 1/1")
    lease = replace(lease, pid=int(proc.pid or 0), time=time.time() - silent_for)
    jobs.records.put(lease.key, json.dumps(lease.to_json()).encode())
    return run.run_id


def tick(instance: dg.DagsterInstance, storage: str) -> None:
    sensor = lost_workers_sensor(storage=storage)
    sensor(dg.build_sensor_context(instance=instance))


def test_the_sensor_ends_the_job_and_fails_the_run_of_a_lost_worker(instance, storage):
    run_id = lost_worker_of_a_started_run(instance, storage, silent_for=RUN_GRACE + 5)
    tick(instance, storage)

    job = JobStore(Store.open(storage)).load_job("edges", JOB)
    assert job.state == JobState.FAILURE
    assert "was lost: killed or crashed mid-job" in job.reason
    run = instance.get_run_by_id(run_id)
    assert run is not None
    assert run.status == dg.DagsterRunStatus.FAILURE
    (failure,) = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    assert job.reason in (failure.message or "")
    assert list_leases(Store.open(storage).records) == []


def test_the_run_is_failed_only_after_a_grace_its_own_worker_could_report_in(instance, storage):
    run_id = lost_worker_of_a_started_run(instance, storage, silent_for=0)
    tick(instance, storage)
    assert JobStore(Store.open(storage)).load_job("edges", JOB).state == JobState.FAILURE
    run = instance.get_run_by_id(run_id)
    assert run is not None
    assert run.status == dg.DagsterRunStatus.STARTED  # a live run worker reports sooner
    assert len(list_leases(Store.open(storage).records)) == 1  # kept to look again


def test_a_run_that_ended_meanwhile_is_left_as_it_is(instance, storage):
    run_id = lost_worker_of_a_started_run(instance, storage, silent_for=RUN_GRACE + 5)
    run = instance.get_run_by_id(run_id)
    assert run is not None
    instance.report_run_failed(run, "the run worker's own report")
    tick(instance, storage)
    failures = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    assert [e.message for e in failures] == ["the run worker's own report"]
    assert list_leases(Store.open(storage).records) == []


def test_versioned_definitions_run_the_sensor_by_default(storage):
    @pipeline(input=pfs("images", glob="/*"))
    def copies(datum) -> None:
        pass

    defs = versioned_definitions([copies], storage=storage)
    sensor = defs.get_sensor_def("dv_lost_workers")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.minimum_interval_seconds == 5
