"""Rerunning a job's datums: only the failed ones, named ones, or all — as a new job.

The story every test starts from: ``images`` holds ``a.txt``, ``b.txt`` and ``c.txt``; the
pipeline ``upper`` fails on ``b.txt`` while a "broken" flag is up (a transient failure: a
flaky service, a full disk), so its first job ends FAILURE with 2 datums done and 1 failed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dagster_versioned.errors import JobFailed
from dagster_versioned.pps.ids import JobId
from dagster_versioned.pps.inputs import pfs
from dagster_versioned.pps.jobs import DatumState, JobInfo, JobState, JobStore
from dagster_versioned.pps.plan import load_plan
from dagster_versioned.pps.pretty import progress_text
from dagster_versioned.pps.reprocess import InvalidReprocess, Reprocess, UnknownDatum
from dagster_versioned.pps.rerun import PythonPipeline, SpecChanged, rerun_job
from dagster_versioned.pps.runner import run_job
from dagster_versioned.pps.spec import PipelineSpec
from dagster_versioned.pps.transform import Datum
from dagster_versioned.store import Store

FLAKY = {"broken": True}
RUNS: list[str] = []


def upper_fn(datum: Datum) -> None:
    for src in datum.files("images"):
        RUNS.append(src.name)
        if src.name == "b.txt" and FLAKY["broken"]:
            raise RuntimeError("the service was down")
        (datum.out / src.name).write_bytes(src.read_bytes().upper())


UPPER = PipelineSpec(name="upper", input=pfs("images", "/*"), fn=upper_fn, datum_tries=1)


@pytest.fixture
def failed(tmp_path: Path) -> tuple[Store, JobInfo]:
    """A store whose ``upper`` job failed on ``b.txt`` and succeeded on ``a.txt``, ``c.txt``."""
    FLAKY["broken"] = True
    RUNS.clear()
    store = Store.open(str(tmp_path / "store"))
    store.create_repo("images")
    with store.commit("images@master") as c:
        for name in ("a.txt", "b.txt", "c.txt"):
            c.put_file(f"/{name}", name.encode())
    gid = JobId(store.inspect_commit("images@master").id)
    with pytest.raises(JobFailed):
        run_job(store, UPPER, gid)
    FLAKY["broken"] = False
    RUNS.clear()
    return store, JobStore(store).load_job("upper", gid)


def outputs(store: Store, job: JobInfo) -> dict[str, bytes]:
    files = store.list_file(f"upper@{job.id}:/")
    return {f.path: store.open_file(f"upper@{job.id}:{f.path}").read() for f in files}


def test_the_failed_job_has_two_datums_done_and_one_failed(failed):
    _store, job = failed
    assert (job.state, job.data_processed, job.data_failed, job.data_total) == (
        JobState.FAILURE,
        2,
        1,
        3,
    )


def test_rerunning_the_failed_datums_is_a_new_job_that_processes_only_the_failed_one(failed):
    store, job = failed
    again = rerun_job(store, "upper", job.id, Reprocess.parse("failed"), spec=UPPER)
    assert again.id != job.id
    assert again.state == JobState.SUCCESS
    assert RUNS == ["b.txt"]
    # The datum that failed before and succeeds now is *recovered*: 0 + 2 + 1 / 3.
    assert (again.data_processed, again.data_skipped, again.data_recovered) == (0, 2, 1)
    assert progress_text(again) == "0 + 2 + 1 / 3"
    assert outputs(store, again) == {"/a.txt": b"A.TXT", "/b.txt": b"B.TXT", "/c.txt": b"C.TXT"}
    assert store.inspect_commit("upper@master").id == again.id


def test_a_rerun_reads_the_input_commits_of_the_job_it_reruns(failed):
    store, job = failed
    store.put_file("images@master:/d.txt", b"d.txt")  # landed after the failed job
    again = rerun_job(store, "upper", job.id, Reprocess.parse("failed"), spec=UPPER)
    assert again.input_commits == job.input_commits
    assert sorted(outputs(store, again)) == ["/a.txt", "/b.txt", "/c.txt"]


def test_the_failed_datums_ran_again_keep_their_success_in_list_datum(failed):
    store, job = failed
    again = rerun_job(store, "upper", job.id, Reprocess.parse("failed"), spec=UPPER)
    states = {
        d.files[0].rpartition(":")[2]: d.state
        for d in JobStore(store).load_datums("upper", again.id)
    }
    assert states == {
        "/a.txt": DatumState.SKIPPED,
        "/b.txt": DatumState.SUCCESS,
        "/c.txt": DatumState.SKIPPED,
    }


def test_the_job_after_a_rerun_skips_every_datum(failed):
    store, job = failed
    rerun_job(store, "upper", job.id, Reprocess.parse("failed"), spec=UPPER)
    nxt = run_job(store, UPPER, JobId("f" * 32))
    assert (nxt.data_processed, nxt.data_skipped, nxt.data_total) == (0, 3, 3)
    assert RUNS == ["b.txt"]


def test_naming_a_datum_that_succeeded_processes_it_again(failed):
    store, job = failed
    fixed = rerun_job(store, "upper", job.id, Reprocess.parse("failed"), spec=UPPER)
    RUNS.clear()
    again = rerun_job(store, "upper", fixed.id, Reprocess.parse(["/a.txt"]), spec=UPPER)
    assert RUNS == ["a.txt"]
    assert progress_text(again) == "1 + 2 / 3"


def test_naming_a_succeeded_datum_of_a_failed_job_also_runs_its_failed_ones(failed):
    """A job's output commit needs every datum: one that never succeeded is never skipped."""
    store, job = failed
    again = rerun_job(store, "upper", job.id, Reprocess.parse(["/a.txt"]), spec=UPPER)
    assert sorted(RUNS) == ["a.txt", "b.txt"]
    assert progress_text(again) == "1 + 1 + 1 / 3"


def test_naming_a_datum_by_its_id_works_as_by_its_path(failed):
    store, job = failed
    datums = JobStore(store).load_datums("upper", job.id)
    a = next(d for d in datums if d.files[0].endswith(":/a.txt"))
    again = rerun_job(store, "upper", job.id, Reprocess.parse([a.id]), spec=UPPER)
    assert "a.txt" in RUNS
    assert again.data_processed == 1  # a.txt: it had succeeded, so it is processed, not recovered


def test_all_processes_every_datum_again(failed):
    store, job = failed
    again = rerun_job(store, "upper", job.id, Reprocess.parse("all"), spec=UPPER)
    assert sorted(RUNS) == ["a.txt", "b.txt", "c.txt"]
    assert (again.data_processed, again.data_skipped, again.data_recovered) == (2, 0, 1)


def test_a_name_that_is_no_datum_of_the_job_is_an_error_naming_it(failed):
    store, job = failed
    with pytest.raises(UnknownDatum) as e:
        rerun_job(store, "upper", job.id, Reprocess.parse(["/zzz.txt"]), spec=UPPER)
    assert "'/zzz.txt' is not a datum of job upper@" in str(e.value)
    assert f"dvctl list datum upper@{job.id}" in str(e.value)
    assert len(JobStore(store).list_jobs("upper")) == 1  # nothing was started


@pytest.mark.parametrize("value", [5, [], [3], {"a": 1}, "", ","])
def test_a_reprocess_value_that_is_not_failed_all_or_names_is_refused(value):
    with pytest.raises(InvalidReprocess, match="'failed', 'all' or a list of datum ids"):
        Reprocess.parse(value)


def test_pachctl_comma_separated_datum_paths_are_read_as_names():
    assert Reprocess.parse("/a.txt,/b.txt").names == ("/a.txt", "/b.txt")


def test_the_plan_records_what_the_rerun_was_asked(failed):
    store, job = failed
    again = rerun_job(store, "upper", job.id, Reprocess.parse("failed"), spec=UPPER)
    plan = load_plan(store, "upper", again.id)
    assert plan.reprocess.source == job.id
    assert len(plan.adopted) == 2
    assert len(plan.recovered) == 1


def test_a_rerun_whose_failed_datum_fails_again_fails_with_the_others_skipped(failed):
    store, job = failed
    FLAKY["broken"] = True
    with pytest.raises(JobFailed) as e:
        rerun_job(store, "upper", job.id, Reprocess.parse("failed"), spec=UPPER)
    ended = e.value.job
    assert (ended.data_skipped, ended.data_failed) == (2, 1)
    assert RUNS == ["b.txt"]


def test_default_reprocess_for_a_job_of_its_own_is_todays_rule(tmp_path: Path):
    """No source job: ``failed`` skips what the output head's job did, nothing more."""
    store = Store.open(str(tmp_path / "store"))
    store.create_repo("images")
    store.put_file("images@master:/a.txt", b"a")
    FLAKY["broken"] = False
    run_job(store, UPPER, JobId("1" * 32))
    store.put_file("images@master:/c.txt", b"c")
    second = run_job(store, UPPER, JobId("2" * 32), reprocess=Reprocess.parse("failed"))
    assert (second.data_processed, second.data_skipped) == (1, 1)
    third = run_job(store, UPPER, JobId("3" * 32), reprocess=Reprocess.parse(["/a.txt"]))
    assert (third.data_processed, third.data_skipped) == (1, 1)
    with pytest.raises(UnknownDatum) as e:
        run_job(store, UPPER, JobId("4" * 32), reprocess=Reprocess.parse(["/nope"]))
    assert str(e.value).startswith(f"'/nope' is not a datum of job upper@{'4' * 32}")
    assert str(e.value).endswith(f"`dvctl list datum upper@{third.id}`")  # the head's job
    assert JobStore(store).load_job("upper", JobId("4" * 32)).state == JobState.FAILURE


# -- rebuilding a transform.cmd pipeline from its job record (what dvctl does) -----------------


def shell_upper(flag: Path) -> PipelineSpec:
    line = (
        f'for f in /pfs/images/*; do n=$(basename "$f"); '
        f'if [ "$n" = b.txt ] && [ -e {flag} ]; then exit 3; fi; '
        f'tr a-z A-Z < "$f" > "/pfs/out/$n"; done'
    )
    return PipelineSpec(
        name="upper", input=pfs("images", "/*"), cmd=("sh",), stdin=(line,), datum_tries=1
    )


def test_a_cmd_pipeline_is_rerun_from_its_job_record_alone(tmp_path: Path):
    flag = tmp_path / "broken"
    flag.touch()
    store = Store.open(str(tmp_path / "store"))
    store.create_repo("images")
    with store.commit("images@master") as c:
        for name in ("a.txt", "b.txt", "c.txt"):
            c.put_file(f"/{name}", name.encode())
    gid = JobId(store.inspect_commit("images@master").id)
    with pytest.raises(JobFailed):
        run_job(store, shell_upper(flag), gid)
    flag.unlink()
    again = rerun_job(store, "upper", gid, Reprocess.parse("failed"))  # no spec given
    assert progress_text(again) == "0 + 2 + 1 / 3"
    assert outputs(store, again)["/b.txt"] == b"B.TXT"
    assert JobStore(store).load_pipeline("upper")["version"] == 1  # not registered again


def test_a_python_pipeline_cannot_be_rerun_without_its_code(failed):
    store, job = failed
    with pytest.raises(PythonPipeline) as e:
        rerun_job(store, "upper", job.id, Reprocess.parse("failed"))
    message = str(e.value)
    assert "only its Dagster code location can load" in message
    assert f"`reprocess: failed` and `job: {job.id}`" in message


def test_a_job_of_an_older_pipeline_version_is_not_rerun_from_the_cli(tmp_path: Path):
    flag = tmp_path / "broken"
    flag.touch()
    store = Store.open(str(tmp_path / "store"))
    store.create_repo("images")
    store.put_file("images@master:/b.txt", b"b")
    gid = JobId(store.inspect_commit("images@master").id)
    with pytest.raises(JobFailed):
        run_job(store, shell_upper(flag), gid)
    changed = shell_upper(tmp_path / "other-flag")
    run_job(store, changed, JobId("9" * 32))  # version 2 of the pipeline
    with pytest.raises(SpecChanged, match="ran version 1 of pipeline 'upper'"):
        rerun_job(store, "upper", gid, Reprocess.parse("failed"))
