"""Jobs of one pipeline complete in input-commit order, however their runs are scheduled."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import dagster as dg
import pytest

from dagster_versioned import versioned_definitions
from dagster_versioned.io.tags import GLOBAL_ID_TAG, INPUT_COMMIT_TAG
from dagster_versioned.pps.jobs import JobState, JobStore
from dagster_versioned.pps.lifecycle import create_job
from dagster_versioned.store import Store

from .workers import execute_run, tally

pytestmark = [pytest.mark.slow, pytest.mark.dagster]


@pytest.fixture
def setup(tmp_path: Path) -> tuple[str, str, Store]:
    storage = str(tmp_path / "store")
    store = Store.open(storage)
    store.create_repo("images")
    store.put_file("images@master:/a.txt", b"first")
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with dg.DagsterInstance.from_config(str(home)):
        pass  # create the sqlite storage before several processes open it
    return storage, str(home), store


def three_commits(store: Store) -> list[str]:
    ids = []
    for name in ("slow.txt", "b.txt", "c.txt"):
        commit = store.put_file(f"images@master:/{name}", name.encode())
        assert commit is not None
        ids.append(commit.id)
    return ids


def run_concurrently(storage: str, home: str, requests: list[dict[str, str]], slow: str) -> None:
    """One spawned process per run, started latest-commit first, all running at once."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(len(requests)) as pool:
        pending = []
        for tags in reversed(requests):
            pending.append(pool.apply_async(execute_run, (storage, home, tags, slow)))
            time.sleep(0.3)
        assert [p.get(timeout=240) for p in pending] == [True] * len(requests)
        # Let the workers leave on their own: the pool's exit would SIGTERM them, and a worker
        # can take that signal while Dagster's own handler is still installed and never exit.
        pool.close()
        pool.join()


def assert_in_input_commit_order(store: Store, before: str, ids: list[str]) -> None:
    jobs = {j.id: j for j in JobStore(store).list_jobs("tally")}
    finished = [jobs[i].finished for i in ids]
    assert all(jobs[i].state == JobState.SUCCESS for i in ids)
    assert finished == sorted(finished), "jobs finished out of input-commit order"
    parents = [store.inspect_commit(f"tally@{i}").parent for i in ids]
    assert parents == [before, *ids[:-1]]  # each output lands on the previous job's output
    # each job compared against the previous job's datums: only the new file was processed
    assert [(jobs[i].data_processed, jobs[i].data_skipped) for i in ids] == [(1, 1), (1, 2), (1, 3)]
    assert store.get_file(f"tally@{ids[-1]}:/slow.txt") == b"slow.txt"


def test_runs_of_a_burst_started_together_finish_in_input_commit_order(setup):
    storage, home, store = setup
    defs = versioned_definitions([tally], storage=storage)
    sensor = defs.get_sensor_def("dv_images_master")
    with dg.DagsterInstance.from_config(home) as instance:
        first = sensor(dg.build_sensor_context(instance=instance, definitions=defs))
        (request,) = first.run_requests
        assert execute_run(storage, home, dict(request.tags), "")
        before = request.tags[GLOBAL_ID_TAG]
        ids = three_commits(store)
        tick = sensor(
            dg.build_sensor_context(instance=instance, cursor=first.cursor, definitions=defs)
        )
    requests = [dict(r.tags) for r in tick.run_requests]
    assert [r[GLOBAL_ID_TAG] for r in requests] == ids
    # the tick recorded the jobs, in order, before any run started (Pachyderm's CREATED jobs)
    assert [j.id for j in reversed(JobStore(store).list_jobs("tally"))] == [before, *ids]
    assert [JobStore(store).load_job("tally", i).state for i in ids] == [JobState.CREATED] * 3
    run_concurrently(storage, home, requests, slow=ids[0])
    assert_in_input_commit_order(store, before, ids)


def test_jobs_recorded_out_of_order_still_run_in_input_commit_order(setup):
    storage, home, store = setup
    before = store.inspect_commit("images@master").id
    assert execute_run(storage, home, {GLOBAL_ID_TAG: before}, "")
    ids = three_commits(store)
    for gid in reversed(ids):  # the latest commit's job is recorded first
        create_job(store, tally.spec, gid)
    requests = [{GLOBAL_ID_TAG: i, INPUT_COMMIT_TAG: f"images@{i}"} for i in ids]
    run_concurrently(storage, home, requests, slow=ids[0])
    assert_in_input_commit_order(store, before, ids)
