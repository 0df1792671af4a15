"""A restarted job keeps the datums its earlier incarnation finished, like Pachyderm.

A batch records each datum that succeeds as it ends (segments of ``batches/``, at most every
half second), so a worker killed mid-job — SIGKILL, here for real in a process of its own —
leaves them behind; the job's next incarnation keeps those whose hash is unchanged and whose
outputs are still stored, processes only the rest, and writes every output in its commit.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from collections import Counter
from pathlib import Path

import pytest

from dagster_versioned.errors import JobFailed, NotFound
from dagster_versioned.pps.batches import PartialResults, batch_dir, succeeded_before
from dagster_versioned.pps.inputs import pfs
from dagster_versioned.pps.jobs import DatumInfo, DatumState, JobState, JobStore
from dagster_versioned.pps.leases import list_leases
from dagster_versioned.pps.lost import end_lost_workers
from dagster_versioned.pps.plan import load_plan
from dagster_versioned.pps.runner import (
    finish_job,
    process_batch,
    run_job,
    start_job,
)
from dagster_versioned.pps.spec import PipelineSpec
from dagster_versioned.pps.transform import Datum
from dagster_versioned.store import Store
from dagster_versioned.store.maintenance import fsck
from dagster_versioned.store.objects import object_key
from dagster_versioned.store.trees import Entry
from pipelines.kill_workers import GATED, run_gated

NAMES = ["a.txt", "b.txt", "c.txt", "d.txt", "e.txt"]
RUNS: Counter[str] = Counter()
INTERRUPT_AT: set[str] = set()
FAIL_AT: set[str] = set()


def counted(datum: Datum) -> None:
    """Copy each file upper-cased and count runs; once each, raise KeyboardInterrupt (a
    terminated run) at a datum named in ``INTERRUPT_AT``, ValueError at one in ``FAIL_AT``."""
    for src in datum.files():
        RUNS[src.name] += 1
        if src.name in INTERRUPT_AT:
            INTERRUPT_AT.discard(src.name)
            raise KeyboardInterrupt
        if src.name in FAIL_AT:
            FAIL_AT.discard(src.name)
            raise ValueError(f"{src.name} is bad this time")
        (datum.out / src.name).write_bytes(src.read_bytes().upper())


def counted_differently(datum: Datum) -> None:
    for src in datum.files():
        RUNS[src.name] += 1
        (datum.out / src.name).write_bytes(src.read_bytes())


COUNTED = PipelineSpec(name="counted", input=pfs("images", "/*"), fn=counted)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.open(str(tmp_path / "store"))
    s.create_repo("images")
    with s.commit("images@master") as c:
        for name in NAMES:
            c.put_file(f"/{name}", name.encode())
    RUNS.clear()
    INTERRUPT_AT.clear()
    FAIL_AT.clear()
    return s


def gid(store: Store) -> str:
    return store.inspect_commit("images@master").id


def interrupted_at(store: Store, name: str) -> tuple[str, set[str]]:
    """Run the job until datum ``name`` interrupts it (KILLED); returns the global id and the
    datums (file names) that succeeded before."""
    INTERRUPT_AT.add(name)
    with pytest.raises(KeyboardInterrupt):
        run_job(store, COUNTED, gid(store))
    assert JobStore(store).load_job("counted", gid(store)).state == JobState.KILLED
    done = set(RUNS) - {name}
    RUNS.clear()
    return gid(store), done


def test_a_job_killed_with_sigkill_mid_batch_keeps_its_finished_datums_for_the_restart(
    store, tmp_path, monkeypatch
):
    job_id = gid(store)
    log, gate = tmp_path / "runs.log", tmp_path / "gate"
    env = {"DV_TEST_LOG": str(log), "DV_TEST_GATE": str(gate), "DV_TEST_BLOCK_AFTER": "2"}
    worker = multiprocessing.get_context("spawn").Process(
        target=run_gated, args=(store.backend.url, job_id, env)
    )
    worker.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            started = log.read_text().split() if log.exists() else []
            if len(started) == 3 and len(succeeded_before(store, "gated", job_id)) == 2:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the worker never got to its third datum with two recorded")
    finally:
        worker.kill()
        worker.join()

    first, second, killed = log.read_text().split()
    ((lease, job),) = end_lost_workers(store)
    assert lease.pid == worker.pid
    assert job is not None
    assert job.state == JobState.FAILURE
    assert f"worker pid {worker.pid} on host" in job.reason
    assert job.reason.endswith("was lost: killed or crashed mid-job")
    assert list_leases(store.records) == []
    with pytest.raises(NotFound):
        store.inspect_commit(f"gated@{job_id}")
    assert fsck(store).ok

    gate.touch()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    done = run_job(store, GATED, job_id)  # what a re-execution of the run does
    assert (done.state, done.restart) == (JobState.SUCCESS, 1)
    assert (done.data_processed, done.data_total) == (5, 5)
    runs = Counter(log.read_text().split())
    assert runs == {**dict.fromkeys(NAMES, 1), killed: 2}  # the first two were not run again
    assert runs[first] == runs[second] == 1
    assert store.get_file(f"gated@{job_id}:/a.txt") == b"A.TXT"
    assert sorted(f.path for f in store.list_file(f"gated@{job_id}")) == [f"/{n}" for n in NAMES]
    assert fsck(store).ok


def test_an_interrupted_job_records_what_succeeded_and_its_restart_keeps_it(store):
    job_id, before = interrupted_at(store, "c.txt")
    assert before  # c is not the first datum
    done = run_job(store, COUNTED, job_id)
    assert set(RUNS) == set(NAMES) - before
    assert set(RUNS.values()) == {1}
    assert (done.state, done.restart, done.data_processed) == (JobState.SUCCESS, 1, 5)
    datums = {d.id: d for d in JobStore(store).load_datums("counted", job_id)}
    assert {d.state for d in datums.values()} == {DatumState.SUCCESS}
    assert store.get_file(f"counted@{job_id}:/b.txt") == b"B.TXT"


def test_datums_kept_by_one_restart_are_kept_by_the_next_too(store):
    job_id, before = interrupted_at(store, "c.txt")
    (last,) = set(NAMES) - before - {"c.txt"} or {"c.txt"}  # stop restart 1 at another datum
    INTERRUPT_AT.add(last)
    with pytest.raises(KeyboardInterrupt):
        run_job(store, COUNTED, job_id)  # restart 1: keeps ``before``; stopped at ``last``
    again = set(RUNS) - {last}
    RUNS.clear()
    done = run_job(store, COUNTED, job_id)
    assert set(RUNS) == set(NAMES) - before - again
    assert set(RUNS.values()) == {1}
    assert (done.restart, done.data_processed) == (2, 5)


def test_a_restart_with_changed_code_processes_every_datum_again(store):
    job_id, _ = interrupted_at(store, "c.txt")
    changed = PipelineSpec(name="counted", input=pfs("images", "/*"), fn=counted_differently)
    done = run_job(store, changed, job_id)
    assert dict.fromkeys(NAMES, 1) == RUNS
    assert store.get_file(f"counted@{done.id}:/a.txt") == b"a.txt"


def test_a_kept_datum_whose_outputs_were_collected_is_processed_again(store):
    job_id, before = interrupted_at(store, "c.txt")
    lost = sorted(before)[0]
    kept = succeeded_before(store, "counted", job_id).values()
    (info,) = [d for d in kept if f"/{lost}" in d.outputs]
    (chunk,) = Entry.from_json(info.outputs[f"/{lost}"]).chunks
    store.backend.delete(object_key(chunk))  # what gc does to an object no commit refers to
    run_job(store, COUNTED, job_id)
    assert set(RUNS) == (set(NAMES) - before) | {lost}
    assert set(RUNS.values()) == {1}
    assert store.get_file(f"counted@{job_id}:/{lost}") == lost.upper().encode()
    assert fsck(store).ok


def test_finish_reads_only_its_own_incarnations_full_batch_files(store):
    """A worker of an earlier incarnation, thought lost, may still write its batch file late,
    and a batch's segments may outlive its full file: finish takes neither for a result."""
    job_id, _ = interrupted_at(store, "a.txt")
    job = start_job(store, COUNTED, job_id)
    assert job.restart == 1
    order = load_plan(store, "counted", job_id).order
    late = [DatumInfo(id=d, hash="stale", state=DatumState.FAILED).to_json() for d in order]
    store.records.put(f"{batch_dir('counted', job_id)}/r0.000000.json", json.dumps(late).encode())
    process_batch(store, COUNTED, job_id, 0, 1)
    bogus = Entry("file", 1, 1, chunks=(store.objects.put(b"x"),)).to_json()
    segment = [DatumInfo(id=order[0], hash="h", state=DatumState.SUCCESS, outputs={"/x": bogus})]
    store.records.put(
        f"{batch_dir('counted', job_id)}/r1.000000.partial-0000-000000.json",
        json.dumps([i.to_json() for i in segment]).encode(),
    )
    done = finish_job(store, COUNTED, job_id)
    assert done.state == JobState.SUCCESS
    assert sorted(f.path for f in store.list_file(f"counted@{job_id}")) == [f"/{n}" for n in NAMES]


def test_a_restart_after_a_failed_datum_processes_only_that_datum(store):
    job_id = gid(store)
    FAIL_AT.add("b.txt")
    one_try = PipelineSpec(name="counted", input=pfs("images", "/*"), fn=counted, datum_tries=1)
    with pytest.raises(JobFailed, match=r"b\.txt is bad this time"):
        run_job(store, one_try, job_id)
    RUNS.clear()
    done = run_job(store, one_try, job_id)
    assert RUNS == {"b.txt": 1}
    assert (done.state, done.restart, done.data_processed) == (JobState.SUCCESS, 1, 5)


def test_partial_results_are_written_in_segments_within_their_delay(store):
    partial = PartialResults(store.records, "p", "j", 0, 0, every=0.2)
    info = DatumInfo(id="d1", hash="h", state=DatumState.SUCCESS)
    partial.add(info)
    partial.add(DatumInfo(id="d0", hash="h", state=DatumState.FAILED))  # not kept: not written
    time.sleep(0.05)
    assert succeeded_before(store, "p", "j") == {"d1": info}  # the first one at once
    partial.add(DatumInfo(id="d2", hash="h", state=DatumState.SUCCESS))
    partial.add(DatumInfo(id="d3", hash="h", state=DatumState.SUCCESS))
    time.sleep(0.4)  # no further datum ends: the timer writes them anyway
    assert sorted(succeeded_before(store, "p", "j")) == ["d1", "d2", "d3"]
    assert len(store.records.list(batch_dir("p", "j"))) == 2  # each segment holds the new
    partial.close(flush=False)
    partial.discard()
    assert store.records.list(batch_dir("p", "j")) == []
