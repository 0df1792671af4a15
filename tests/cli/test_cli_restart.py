"""``dvctl restart datum``: rerun a failed job's failed datums, or named ones, as a new job.

The story: ``images`` holds ``a.txt``, ``b.txt``, ``c.txt``; the ``transform.cmd`` pipeline
``upper`` fails on ``b.txt`` while a flag file exists (a transient failure). After the flag is
gone, ``dvctl restart datum upper@JOB --failed`` runs only ``b.txt`` again.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from dagster_versioned.errors import JobFailed
from dagster_versioned.pps.ids import JobId
from dagster_versioned.pps.inputs import pfs
from dagster_versioned.pps.jobs import JobStore
from dagster_versioned.pps.runner import run_job
from dagster_versioned.pps.spec import PipelineSpec
from dagster_versioned.pps.transform import Datum
from dagster_versioned.store import Store

from .helpers import Dv


def upper(flag: Path, log: Path) -> PipelineSpec:
    """Upper-cases each file; fails on b.txt while ``flag`` exists; logs each file it ran."""
    line = (
        f'for f in /pfs/images/*; do n=$(basename "$f"); echo "$n" >> {log}; '
        f'if [ "$n" = b.txt ] && [ -e {flag} ]; then exit 3; fi; '
        f'tr a-z A-Z < "$f" > "/pfs/out/$n"; done'
    )
    return PipelineSpec(
        name="upper", input=pfs("images", "/*"), cmd=("sh",), stdin=(line,), datum_tries=1
    )


@pytest.fixture
def failed(tmp_path: Path) -> tuple[Dv, JobId, Path]:
    """A store whose job upper@JOB failed on b.txt; the flag is gone, the log emptied."""
    url = str(tmp_path / "store")
    store = Store.open(url)
    store.create_repo("images")
    with store.commit("images@master") as c:
        for name in ("a.txt", "b.txt", "c.txt"):
            c.put_file(f"/{name}", name.encode())
    gid = JobId(store.inspect_commit("images@master").id)
    flag, log = tmp_path / "broken", tmp_path / "ran.log"
    flag.touch()
    with pytest.raises(JobFailed):
        run_job(store, upper(flag, log), gid)
    flag.unlink()
    log.write_text("")
    return Dv(url), gid, log


def table(out: str) -> list[list[str]]:
    return [line.split() for line in out.strip().splitlines()]


def test_restart_datum_failed_runs_a_new_job_that_processes_only_the_failed_datum(failed):
    dv, gid, log = failed
    out = dv.ok("restart", "datum", f"upper@{gid}", "--failed")
    header, row = table(out)
    assert header[:6] == ["ID", "PIPELINE", "STARTED", "DURATION", "RESTART", "PROGRESS"]
    new = row[0]
    assert new != gid
    assert "0 + 2 + 1 / 3" in out  # processed + skipped + recovered / total
    assert row[-1] == "success"
    assert log.read_text().split() == ["b.txt"]
    files = table(dv.ok("list", "file", f"upper@{new}"))[1:]
    assert sorted(f[0] for f in files) == ["/a.txt", "/b.txt", "/c.txt"]
    assert dv.ok("get", "file", f"upper@{new}:/b.txt") == "B.TXT"


def test_inspect_job_of_the_rerun_shows_its_recovered_datum(failed):
    dv, gid, _ = failed
    new = table(dv.ok("restart", "datum", f"upper@{gid}", "--failed"))[1][0]
    details = {
        k.strip(): v.strip()
        for k, _, v in (
            line.partition(":") for line in dv.ok("inspect", "job", f"upper@{new}").splitlines()
        )
    }
    assert (details["Processed"], details["Skipped"], details["Recovered"]) == ("0", "2", "1")


def test_restart_datum_by_path_processes_a_succeeded_datum_again(failed):
    dv, gid, log = failed
    fixed = table(dv.ok("restart", "datum", f"upper@{gid}", "--failed"))[1][0]
    log.write_text("")
    out = dv.ok("restart", "datum", f"upper@{fixed}", "/a.txt")
    assert "1 + 2 / 3" in out
    assert log.read_text().split() == ["a.txt"]


def test_restart_datum_by_id_as_list_datum_prints_it(failed):
    dv, gid, log = failed
    fixed = table(dv.ok("restart", "datum", f"upper@{gid}", "--failed"))[1][0]
    rows = table(dv.ok("list", "datum", f"upper@{fixed}"))[1:]
    c_id = next(r[0] for r in rows if r[1].endswith(":/c.txt"))
    log.write_text("")
    dv.ok("restart", "datum", f"upper@{fixed}", c_id)
    assert log.read_text().split() == ["c.txt"]


def test_restart_datum_all_runs_every_datum(failed):
    dv, gid, log = failed
    out = dv.ok("restart", "datum", f"upper@{gid}", "--all")
    assert "2 + 0 + 1 / 3" in out
    assert sorted(log.read_text().split()) == ["a.txt", "b.txt", "c.txt"]


def test_restart_datum_of_an_unknown_datum_names_it_and_how_to_list_datums(failed):
    dv, gid, log = failed
    message = dv.error("restart", "datum", f"upper@{gid}", "/nope.txt")
    assert message == (
        f"'/nope.txt' is not a datum of job upper@{gid}: name a datum by its id or an input "
        f"path; list them with `dvctl list datum upper@{gid}`"
    )
    assert log.read_text() == ""
    assert len(JobStore(dv.store).list_jobs("upper")) == 1


def test_restart_datum_needs_names_or_failed_or_all(failed):
    dv, gid, _ = failed
    assert "one of them), got none" in dv.error("restart", "datum", f"upper@{gid}")
    got = dv.error("restart", "datum", f"upper@{gid}", "/a.txt", "--failed")
    assert got.endswith("got datums and --failed")


def test_a_rerun_that_fails_again_says_how_to_rerun_it(failed, tmp_path: Path):
    dv, gid, _ = failed
    (tmp_path / "broken").touch()
    message = dv.error("restart", "datum", f"upper@{gid}", "--failed")
    assert message.startswith("job upper@")
    assert "failure: datum" in message
    assert message.endswith("--failed`")


def edges_fn(datum: Datum) -> None:
    for src in datum.files("images"):
        (datum.out / src.name).write_bytes(src.read_bytes())


def test_a_python_pipeline_is_rerun_from_the_dagster_ui_and_dvctl_says_how(tmp_path: Path):
    url = str(tmp_path / "store")
    store = Store.open(url)
    store.create_repo("images")
    store.put_file("images@master:/a.txt", b"a")
    gid = JobId(store.inspect_commit("images@master").id)
    run_job(store, PipelineSpec(name="edges", input=pfs("images"), fn=edges_fn), gid)
    message = Dv(url).error("restart", "datum", f"edges@{gid}", "--failed")
    assert message.startswith("pipeline 'edges' runs Python code (")
    assert "in the Dagster UI, materialize asset edges with the run config" in message
    assert f"`reprocess: failed` and `job: {gid}`" in message


def test_list_datum_on_a_failed_job_returns_at_once(failed, dvctl_path: str):
    """pachyderm #5508: ``list datum`` of a failed job hung. Here it reads the job's datum
    records and ends, in a real process with a deadline."""
    dv, gid, _ = failed
    done = subprocess.run(
        [dvctl_path, "--storage", dv.storage, "list", "datum", f"upper@{gid}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    statuses = sorted(row[2] for row in table(done.stdout)[1:])  # ID FILES STATUS TIME
    assert statuses == ["failed", "success", "success"]


def test_list_datum_on_a_job_that_failed_before_planning_returns_at_once(tmp_path, dvctl_path):
    """A job that ended before it had datums (its upstream failed) lists none, and ends."""
    url = str(tmp_path / "store")
    store = Store.open(url)
    store.create_repo("images")
    store.put_file("images@master:/a.txt", b"a")
    gid = JobId(store.inspect_commit("images@master").id)
    broken = PipelineSpec(name="edges", input=pfs("images"), cmd=("false",), datum_tries=1)
    below = PipelineSpec(name="below", input=pfs("edges"), cmd=("true",))
    with pytest.raises(JobFailed):
        run_job(store, broken, gid)
    with pytest.raises(JobFailed):
        run_job(store, below, gid)  # unrunnable: its upstream job failed
    done = subprocess.run(
        [dvctl_path, "--storage", url, "list", "datum", f"below@{gid}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert table(done.stdout) == [["ID", "FILES", "STATUS", "TIME"]]
    message = Dv(url).error("restart", "datum", f"below@{gid}", "--failed")
    assert "never read its inputs" in message
