"""fsck verifies the engines' records through the checks they register, knowing none itself.

The store's fsck walks what it owns; the Pachyderm engine registers the check of its job
records (``pps/fsck.py``) when ``dagster_versioned.pps`` is imported, and ``dvctl fsck`` and
the Dagster asset checks import it, so every fsck a user runs verifies the job records too.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from dagster_versioned.errors import InvalidArgument
from dagster_versioned.pps import fsck as pps_fsck
from dagster_versioned.pps.ids import JobId
from dagster_versioned.pps.jobs import JobInfo, JobState, JobStore
from dagster_versioned.store import Store, layout
from dagster_versioned.store.commits import now
from dagster_versioned.store.fsck_hooks import (
    record_checks,
    register_record_check,
    unregister_record_check,
)
from dagster_versioned.store.maintenance import fsck

JOB = JobId("a" * 32)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.open(str(tmp_path / "store"))
    s.create_repo("edges")
    with s.commit("edges@master") as c:
        c.put_file("/a.txt", b"alpha")
    return s


def _succeeded_job(store: Store, output_commit: str) -> JobInfo:
    jobs = JobStore(store)
    job = JobInfo(pipeline="edges", id=JOB, created=now())
    jobs.create_job(job)
    return jobs.update_job(
        jobs.load_job("edges", JOB),
        lambda cur: replace(cur, output_commit=output_commit).with_state(JobState.SUCCESS),
    )


def test_importing_the_engine_registers_its_job_record_check():
    assert (pps_fsck.CHECK, pps_fsck.check_job_records) in record_checks()


def test_a_job_whose_output_commit_is_gone_is_a_problem(store):
    _succeeded_job(store, "f" * 32)

    report = fsck(store)

    assert report.problems == [f"job edges@{JOB}: output commit {'f' * 32} is missing"]


def test_a_job_whose_output_commit_exists_passes(store):
    head = store.inspect_commit("edges@master")
    _succeeded_job(store, head.id)

    assert fsck(store).ok


def test_a_per_repo_fsck_checks_only_the_jobs_of_pipelines_of_those_names(store):
    _succeeded_job(store, "f" * 32)
    store.create_repo("other")

    assert fsck(store, repos=["other"]).ok
    assert not fsck(store, repos=["edges"]).ok


def test_an_unreadable_job_revision_is_a_problem_naming_the_job(store):
    JobStore(store).create_job(JobInfo(pipeline="edges", id=JOB, created=now()))
    store.records.put(layout.job_hint("edges", JOB), b"{not json")

    (problem,) = fsck(store).problems

    assert problem.startswith(f"job edges@{JOB}: record {layout.job_hint('edges', JOB)}")
    assert "unreadable" in problem


@pytest.fixture
def extra_check() -> Iterator[list[frozenset[str] | None]]:
    seen: list[frozenset[str] | None] = []

    def check(store: Store, repos: frozenset[str] | None) -> Iterator[str]:
        seen.append(repos)
        yield "widget w1: its gadget is gone"

    register_record_check("test.widgets", check)
    yield seen
    unregister_record_check("test.widgets")


def test_fsck_reports_what_a_registered_check_finds_and_passes_it_the_repos(store, extra_check):
    report = fsck(store, repos=["edges"])

    assert report.problems == ["widget w1: its gadget is gone"]
    assert extra_check == [frozenset({"edges"})]


def test_an_unregistered_check_no_longer_runs(store, extra_check):
    unregister_record_check("test.widgets")

    assert fsck(store).ok
    assert extra_check == []


def test_a_check_needs_a_name():
    with pytest.raises(InvalidArgument, match="non-empty name"):
        register_record_check(" ", pps_fsck.check_job_records)


def test_dvctl_fsck_checks_job_records_in_a_fresh_process(store):
    """The CLI imports the engine itself: nothing else in a ``dvctl`` process would."""
    _succeeded_job(store, "f" * 32)
    script = "from dagster_versioned.cli.main import main; main()"

    done = subprocess.run(
        [sys.executable, "-c", script, "--storage", store.url, "fsck"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 1, done.stderr
    assert f"problem: job edges@{JOB}: output commit {'f' * 32} is missing" in done.stdout
