"""Jobs, datums and incremental processing, run by the Dagster-free runner.

These follow Pachyderm's "Jobs" and datum pages: one job per pipeline per global id, PROGRESS
as processed + skipped / total, skipped datums reused by reference, outputs of deleted inputs
gone from the next output commit.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import pytest

from dagster_versioned.errors import InvalidSpec, JobFailed
from dagster_versioned.pps.datums import DatumSpec
from dagster_versioned.pps.inputs import cross, group, join, pfs, union
from dagster_versioned.pps.jobs import DatumState, JobState, JobStore
from dagster_versioned.pps.runner import run_job
from dagster_versioned.pps.spec import PipelineSpec, load_spec_file
from dagster_versioned.pps.transform import Datum
from dagster_versioned.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.open(str(tmp_path / "store"))
    s.create_repo("images")
    return s


def lower(datum: Datum) -> None:
    for f in datum.files("images"):
        (datum.out / f.name).write_bytes(f.read_bytes().lower())


def names(datum: Datum) -> None:
    listing = sorted(f"{n}:{p.name}" for n in datum.input_names for p in datum.files(n))
    (datum.out / f"{datum.id}.txt").write_text("\n".join(listing))


EDGES = PipelineSpec(name="edges", input=pfs("images", "/*"), fn=lower)


def head_id(store: Store, ref: str) -> str:
    return store.inspect_commit(ref).id


def progress(job) -> str:
    return f"{job.data_processed} + {job.data_skipped} / {job.data_total}"


def test_first_job_processes_every_datum_and_writes_the_output_commit_with_the_global_id(store):
    store.put_file("images@master:/a.png", b"AAA")
    gid = head_id(store, "images@master")
    job = run_job(store, EDGES, gid)
    assert job.state == JobState.SUCCESS
    assert progress(job) == "1 + 0 / 1"
    out = store.inspect_commit(f"edges@{gid}")
    assert out.branch == "master"
    assert [p.repo for p in out.provenance] == ["images"]
    assert store.get_file("edges@master:/a.png") == b"aaa"


def test_a_new_file_processes_one_datum_and_skips_the_rest(store):
    store.put_file("images@master:/a.png", b"AAA")
    run_job(store, EDGES, head_id(store, "images@master"))
    store.put_file("images@master:/b.png", b"BBB")
    job = run_job(store, EDGES, head_id(store, "images@master"))
    assert progress(job) == "1 + 1 / 2"
    assert [f.path for f in store.list_file("edges@master")] == ["/a.png", "/b.png"]


def test_a_datum_skipped_by_one_job_is_skipped_by_the_next_too(store):
    """Regression: only datums the previous job *processed* were reused, so a datum skipped
    once was reprocessed by the job after (every other job redid the unchanged work)."""
    store.put_file("images@master:/a.png", b"AAA")
    run_job(store, EDGES, head_id(store, "images@master"))
    store.put_file("images@master:/b.png", b"BBB")
    run_job(store, EDGES, head_id(store, "images@master"))
    store.put_file("images@master:/c.png", b"CCC")
    job = run_job(store, EDGES, head_id(store, "images@master"))
    assert progress(job) == "1 + 2 / 3"
    assert store.get_file("edges@master:/a.png") == b"aaa"


def test_changing_one_file_of_a_hundred_processes_one_and_skips_ninety_nine(store):
    with store.commit("images@master") as c:
        for i in range(100):
            c.put_file(f"/img{i:03d}.png", f"IMG{i}".encode())
    run_job(store, EDGES, head_id(store, "images@master"))
    store.put_file("images@master:/img042.png", b"CHANGED")
    job = run_job(store, EDGES, head_id(store, "images@master"))
    assert progress(job) == "1 + 99 / 100"
    assert store.get_file("edges@master:/img042.png") == b"changed"


def test_deleting_an_input_file_removes_its_outputs(store):
    store.put_file("images@master:/a.png", b"AAA")
    store.put_file("images@master:/b.png", b"BBB")
    run_job(store, EDGES, head_id(store, "images@master"))
    store.delete_file("images@master:/a.png")
    job = run_job(store, EDGES, head_id(store, "images@master"))
    assert progress(job) == "0 + 1 / 1"
    assert [f.path for f in store.list_file("edges@master")] == ["/b.png"]


def test_changing_the_salt_reprocesses_everything(store):
    store.put_file("images@master:/a.png", b"AAA")
    store.put_file("images@master:/b.png", b"BBB")
    run_job(store, EDGES, head_id(store, "images@master"))
    salted = PipelineSpec(name="edges", input=pfs("images", "/*"), fn=lower, salt="new-salt")
    store.put_file("images@master:/c.png", b"CCC")
    job = run_job(store, salted, head_id(store, "images@master"))
    assert progress(job) == "3 + 0 / 3"


def test_changing_the_code_reprocesses_everything(store):
    store.put_file("images@master:/a.png", b"AAA")
    run_job(store, EDGES, head_id(store, "images@master"))

    def upper(datum: Datum) -> None:
        for f in datum.files():
            (datum.out / f.name).write_bytes(f.read_bytes().upper())

    store.put_file("images@master:/b.png", b"bbb")
    job = run_job(
        store,
        PipelineSpec(name="edges", input=pfs("images"), fn=upper),
        head_id(store, "images@master"),
    )
    assert progress(job) == "2 + 0 / 2"
    assert store.get_file("edges@master:/a.png") == b"AAA"


def test_a_dag_shares_one_global_id_across_input_and_output_commits(store):
    store.put_file("images@master:/a.png", b"AAA")
    montage = PipelineSpec(
        name="montage", input=cross(pfs("images", "/"), pfs("edges", "/")), fn=names
    )
    gid = head_id(store, "images@master")
    run_job(store, EDGES, gid)
    job = run_job(store, montage, gid)
    assert progress(job) == "1 + 0 / 1"
    assert sorted(c.repo for c in store.list_commit_set(gid)) == ["edges", "images", "montage"]
    assert sorted(j.pipeline for j in JobStore(store).list_job_set(gid)) == ["edges", "montage"]
    listing = store.get_file(f"montage@{gid}:/" + store.list_file("montage@master")[0].path[1:])
    assert listing.decode().splitlines() == ["edges:a.png", "images:a.png"]


def test_glob_slash_gives_one_datum_with_the_whole_repo(store):
    for name in ("a", "b", "c"):
        store.put_file(f"images@master:/d/{name}", name.encode())
    spec = PipelineSpec(name="whole", input=pfs("images", "/"), fn=names)
    job = run_job(store, spec, head_id(store, "images@master"))
    assert job.data_total == 1


def test_glob_star_star_and_star_slash_star(store):
    for path in ("/d1/x", "/d1/y", "/d2/z"):
        store.put_file(f"images@master:{path}", b".")
    gid = head_id(store, "images@master")
    assert (
        run_job(
            store, PipelineSpec(name="two", input=pfs("images", "/*/*"), fn=names), gid
        ).data_total
        == 3
    )
    assert (
        run_job(
            store, PipelineSpec(name="one", input=pfs("images", "/*"), fn=names), gid
        ).data_total
        == 2
    )


@pytest.fixture
def two_repos(store: Store) -> Store:
    store.create_repo("a")
    store.create_repo("b")
    with store.commit("a@master") as c:
        c.put_file("/1.txt", b"a1")
        c.put_file("/2.txt", b"a2")
    with store.commit("b@master") as c:
        c.put_file("/2.csv", b"b2")
        c.put_file("/3.csv", b"b3")
        c.put_file("/4.csv", b"b4")
    return store


def test_cross_gives_every_combination_and_union_every_datum(two_repos):
    gid = head_id(two_repos, "b@master")
    crossed = PipelineSpec(name="crossed", input=cross(pfs("a"), pfs("b")), fn=names)
    unioned = PipelineSpec(name="unioned", input=union(pfs("a"), pfs("b")), fn=names)
    assert run_job(two_repos, crossed, gid).data_total == 6
    assert run_job(two_repos, unioned, gid).data_total == 5


def test_join_combines_datums_whose_keys_match_and_outer_join_keeps_the_unmatched(two_repos):
    gid = head_id(two_repos, "b@master")
    inner = join(pfs("a", "/(*).txt", join_on="$1"), pfs("b", "/(*).csv", join_on="$1"))
    job = run_job(two_repos, PipelineSpec(name="inner", input=inner, fn=names), gid)
    assert job.data_total == 1
    (datum,) = JobStore(two_repos).load_datums("inner", gid)
    assert [f.rsplit(":", 1)[1] for f in datum.files] == ["/2.txt", "/2.csv"]
    outer = join(
        pfs("a", "/(*).txt", join_on="$1", outer_join=True), pfs("b", "/(*).csv", join_on="$1")
    )
    assert (
        run_job(two_repos, PipelineSpec(name="outer", input=outer, fn=names), gid).data_total == 2
    )


def test_group_merges_every_datum_with_the_same_key(store):
    for name in ("k1-a", "k1-b", "k2-a"):
        store.put_file(f"images@master:/{name}.txt", b".")
    spec = PipelineSpec(
        name="grouped", input=group(pfs("images", "/(*)-*.txt", group_by="$1")), fn=names
    )
    gid = head_id(store, "images@master")
    assert run_job(store, spec, gid).data_total == 2
    sizes = sorted(len(d.files) for d in JobStore(store).load_datums("grouped", gid))
    assert sizes == [1, 2]


def test_a_datum_that_always_fails_is_tried_datum_tries_times_and_fails_the_job(store):
    store.put_file("images@master:/a.png", b"AAA")
    calls = []

    def broken(datum: Datum) -> None:
        calls.append(datum.id)
        raise ValueError("cannot read image")

    spec = PipelineSpec(name="broken", input=pfs("images"), fn=broken, datum_tries=3)
    gid = head_id(store, "images@master")
    with pytest.raises(JobFailed) as err:
        run_job(store, spec, gid)
    job = err.value.job
    assert job.state == JobState.FAILURE
    assert "cannot read image" in job.reason
    assert job.data_failed == 1
    assert len(calls) == 3
    (datum,) = JobStore(store).load_datums("broken", gid)
    assert datum.state == DatumState.FAILED


def test_a_downstream_job_of_a_failed_job_is_unrunnable(store):
    store.put_file("images@master:/a.png", b"AAA")

    def broken(datum: Datum) -> None:
        raise ValueError("boom")

    edges = PipelineSpec(name="edges", input=pfs("images"), fn=broken, datum_tries=1)
    montage = PipelineSpec(name="montage", input=pfs("edges", "/"), fn=names)
    gid = head_id(store, "images@master")
    with pytest.raises(JobFailed):
        run_job(store, edges, gid)
    with pytest.raises(JobFailed) as err:
        run_job(store, montage, gid)
    assert err.value.job.state == JobState.UNRUNNABLE
    assert err.value.job.reason == (
        "unrunnable because the following upstream pipelines failed: edges"
    )


def test_a_rerun_of_a_failed_job_reuses_the_global_id_and_counts_a_restart(store):
    store.put_file("images@master:/a.png", b"AAA")
    flaky = {"fail": True}

    def sometimes(datum: Datum) -> None:
        if flaky["fail"]:
            raise ValueError("not yet")
        lower(datum)

    spec = PipelineSpec(name="flaky", input=pfs("images"), fn=sometimes, datum_tries=1)
    gid = head_id(store, "images@master")
    with pytest.raises(JobFailed):
        run_job(store, spec, gid)
    flaky["fail"] = False
    job = run_job(store, spec, gid)
    assert job.state == JobState.SUCCESS
    assert job.restart == 1
    assert store.inspect_commit(f"flaky@{gid}").id == gid


def test_a_job_over_its_timeout_is_killed(store):
    for i in range(3):
        store.put_file(f"images@master:/{i}.png", b"x")

    def slow(datum: Datum) -> None:
        time.sleep(0.4)

    spec = PipelineSpec(name="slow", input=pfs("images"), fn=slow, job_timeout=0.5)
    with pytest.raises(JobFailed) as err:
        run_job(store, spec, head_id(store, "images@master"))
    assert err.value.job.state == JobState.KILLED
    assert "timed out" in err.value.job.reason


def test_a_datum_over_its_timeout_fails_that_try(store):
    store.put_file("images@master:/a.png", b"x")

    def stuck(datum: Datum) -> None:
        time.sleep(2)

    spec = PipelineSpec(
        name="stuck", input=pfs("images"), fn=stuck, datum_timeout=0.2, datum_tries=1
    )
    with pytest.raises(JobFailed) as err:
        run_job(store, spec, head_id(store, "images@master"))
    assert "timed out" in err.value.job.reason


def test_stop_job_kills_a_running_job(store):
    """The stop is seen within ``StopPoll.INTERVAL`` (1 s) of the request: 4 s of datums."""
    for i in range(40):
        store.put_file(f"images@master:/{i:02d}.png", b"x")
    gid = head_id(store, "images@master")

    def slow(datum: Datum) -> None:
        time.sleep(0.1)

    spec = PipelineSpec(name="stoppable", input=pfs("images"), fn=slow)

    def stop_soon() -> None:
        jobs = JobStore(store)
        for _ in range(100):
            if jobs.find_job("stoppable", gid) is not None:
                jobs.request_stop("stoppable", gid)
                return
            time.sleep(0.02)

    stopper = threading.Thread(target=stop_soon)
    stopper.start()
    with pytest.raises(JobFailed) as err:
        run_job(store, spec, gid)
    stopper.join()
    assert err.value.job.state == JobState.KILLED
    assert err.value.job.reason == "stopped by user"


def test_two_datums_writing_one_output_path_fail_naming_both(store):
    store.put_file("images@master:/a.png", b"a")
    store.put_file("images@master:/b.png", b"b")

    def same(datum: Datum) -> None:
        (datum.out / "result.txt").write_text(datum.id)

    spec = PipelineSpec(name="clash", input=pfs("images"), fn=same)
    gid = head_id(store, "images@master")
    with pytest.raises(JobFailed) as err:
        run_job(store, spec, gid)
    ids = [d.id for d in JobStore(store).load_datums("clash", gid)]
    assert all(i in err.value.job.reason for i in ids)
    assert "/result.txt" in err.value.job.reason


def test_a_spec_file_with_a_shell_transform_runs_unchanged(store, tmp_path):
    store.put_file("images@master:/a.txt", b"hello")
    spec_file = tmp_path / "upper.json"
    spec_file.write_text(
        json.dumps(
            {
                "pipeline": {"name": "upper"},
                "description": "Upper-cases every file.",
                "input": {"pfs": {"repo": "images", "glob": "/*"}},
                "transform": {
                    "image": "alpine:3",
                    "cmd": ["sh"],
                    "stdin": [
                        "for f in /pfs/images/*; do tr a-z A-Z < $f > /pfs/out/$(basename $f); done"
                    ],
                },
                "datum_tries": "2",
            }
        )
    )
    spec = load_spec_file(spec_file)
    assert spec.image == "alpine:3"
    job = run_job(store, spec, head_id(store, "images@master"))
    assert job.state == JobState.SUCCESS
    assert store.get_file("upper@master:/a.txt") == b"HELLO"


def test_a_spec_cmd_sees_its_inputs_through_the_environment(store, tmp_path):
    store.put_file("images@master:/a.txt", b"hi")
    script = "import os,shutil; shutil.copy(os.environ['images'], os.environ['PFS_OUT'] + '/copy')"
    spec = PipelineSpec(name="envy", input=pfs("images"), cmd=(sys.executable, "-c", script))
    run_job(store, spec, head_id(store, "images@master"))
    assert store.get_file("envy@master:/copy") == b"hi"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("datum_tries", "three", "datum_tries"),
        ("job_timeout", "soon", "job_timeout"),
        ("colour", "blue", "unknown field 'colour'"),
    ],
)
def test_a_spec_file_with_a_bad_field_is_refused_naming_it(tmp_path, field, value, message):
    raw = {
        "pipeline": {"name": "p"},
        "input": {"pfs": {"repo": "images", "glob": "/*"}},
        "transform": {"cmd": ["true"]},
        field: value,
    }
    path = tmp_path / "p.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(InvalidSpec, match=message):
        load_spec_file(path)


def test_datum_identity_depends_on_paths_not_content():
    from dagster_versioned.pps.datums import DatumInput
    from dagster_versioned.store.trees import Entry

    def datum(content_hash: str) -> DatumSpec:
        entry = Entry("file", 1, 1, chunks=(content_hash,))  # type: ignore[arg-type]
        i = DatumInput(
            name="images", repo="images", branch="master", commit="c" * 32, path="/a", entry=entry
        )
        return DatumSpec(inputs=(i,))

    assert datum("1" * 64).id == datum("2" * 64).id
    assert datum("1" * 64).hash("s", "t") != datum("2" * 64).hash("s", "t")
    assert datum("1" * 64).hash("s", "t") != datum("1" * 64).hash("other", "t")


def test_egress_copies_the_output_commit_to_a_url(store, tmp_path):
    store.put_file("images@master:/a.png", b"AAA")
    store.put_file("images@master:/sub/b.png", b"BBB")
    target = tmp_path / "egress"
    spec = PipelineSpec(
        name="egressed", input=pfs("images", "/*"), fn=lower, egress=f"file://{target}"
    )
    job = run_job(store, spec, head_id(store, "images@master"))
    assert job.state == JobState.SUCCESS
    assert (target / "a.png").read_bytes() == b"aaa"
    assert (target / "b.png").read_bytes() == b"bbb"
    assert job.details["egress"] == {"URL": f"file://{target}"}


def test_a_datum_rescued_by_err_cmd_is_recovered_and_the_job_succeeds(store):
    store.put_file("images@master:/a.png", b"x")
    spec = PipelineSpec(
        name="rescued", input=pfs("images"), cmd=("false",), err_cmd=("true",), datum_tries=2
    )
    job = run_job(store, spec, head_id(store, "images@master"))
    assert job.state == JobState.SUCCESS
    assert (job.data_processed, job.data_skipped, job.data_recovered) == (0, 0, 1)
    from dagster_versioned.pps.pretty import progress_text

    assert progress_text(job) == "0 + 0 + 1 / 1"


def test_parallel_datums_give_the_same_output_as_serial_ones(store):
    with store.commit("images@master") as c:
        for i in range(40):
            c.put_file(f"/{i:02d}.png", f"IMG-{i}".encode())
    gid = head_id(store, "images@master")
    serial = run_job(store, PipelineSpec(name="serial", input=pfs("images"), fn=lower), gid)
    parallel = run_job(
        store, PipelineSpec(name="parallel", input=pfs("images"), fn=lower, parallelism=4), gid
    )
    assert serial.data_processed == parallel.data_processed == 40
    assert (
        store.inspect_commit("serial@master").root.hash
        == store.inspect_commit("parallel@master").root.hash
    )
