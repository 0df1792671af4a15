"""``fsck`` of the Pachyderm engine's job records, registered with the store's fsck.

The store verifies refs, commits and objects; what a job record means — that its newest
revision must parse, and that the output commit it names must exist — is known only here, so
this module hands ``fsck`` that check (``store/fsck_hooks.py``) when ``dagster_versioned.pps``
is imported. A job whose output commit is gone is what a ``gc`` or a repo deletion racing a
finishing job leaves: ``list job`` would show SUCCESS for output nobody can read.
"""

from __future__ import annotations

from collections.abc import Iterator

from dagster_versioned.errors import CorruptStore
from dagster_versioned.pps.ids import JobId
from dagster_versioned.pps.jobs import job_log
from dagster_versioned.store import Store, layout
from dagster_versioned.store.commits import CommitId
from dagster_versioned.store.fsck_hooks import register_record_check
from dagster_versioned.store.maintenance import commit_finished

CHECK = "pps.job_records"
"""The name the job-record check is registered under."""


def check_job_records(store: Store, repos: frozenset[str] | None) -> Iterator[str]:
    """Every job record's newest revision parses, and the output commit it names exists.

    With ``repos``, only the jobs of pipelines of those names (a pipeline's output repo has
    its name). Records are found by their hints (``jobs/<pipeline>/<id>.json``), as listings
    find them.
    """
    records = store.records
    for pipeline in records.list(layout.JOBS):
        if repos is not None and pipeline not in repos:
            continue
        for name in records.list(layout.pipeline_jobs(pipeline)):
            if not name.endswith(".json"):
                continue
            job_id = JobId(name.removesuffix(".json"))
            try:
                latest = job_log(records, pipeline, job_id).latest()
            except CorruptStore as e:
                yield f"job {pipeline}@{job_id}: {e}"
                continue
            out = latest.value.get("output_commit") if latest is not None else None
            if out and not commit_finished(store, pipeline, CommitId(out)):
                yield f"job {pipeline}@{job_id}: output commit {out} is missing"


register_record_check(CHECK, check_job_records)

__all__ = ["CHECK", "check_job_records"]
