"""Jobs of one pipeline run one after another, in the order of their input commits."""

from __future__ import annotations

import logging
import time
from datetime import datetime

from dagster_versioned.errors import (
    VersionedError,
)
from dagster_versioned.pps.jobs import (
    JobInfo,
    JobStore,
)
from dagster_versioned.store import Store

log = logging.getLogger("dagster_versioned.pipelines")


_ORDER_WAIT = 600.0


def wait_for_earlier_jobs(jobs: JobStore, job: JobInfo) -> None:
    """Jobs of one pipeline run one after another, in the order of their input commits.

    Each job's place is its origin: when the commit with its global id landed (the input
    commit a branch sensor saw), or when the job was recorded if that came first (a run
    started by hand, whose id is no input commit). Ties go by creation time, then id, so the
    order is total and two jobs never wait for each other. A job waits while an earlier job
    of its pipeline is unfinished: its plan then compares against that job's datums and its
    output commit lands on top of that job's, as Pachyderm processes commits in order.
    """
    origins: dict[str, tuple[datetime, datetime, str]] = {}

    def place(j: JobInfo) -> tuple[datetime, datetime, str]:
        if j.id not in origins:
            origins[j.id] = (_origin(jobs.store, j), j.created, j.id)
        return origins[j.id]

    mine = place(job)
    deadline = time.monotonic() + _ORDER_WAIT
    while time.monotonic() < deadline:
        earlier = [
            j
            for j in jobs.list_jobs(job.pipeline)
            if j.id != job.id and not j.state.terminal and place(j) < mine
        ]
        if not earlier:
            return
        time.sleep(0.2)
    log.warning(
        "job %s@%s: earlier jobs still running after %ss; going on",
        job.pipeline,
        job.id,
        _ORDER_WAIT,
    )


def _origin(store: Store, job: JobInfo) -> datetime:
    """When the global id's first commit landed, or the job was recorded if that is earlier."""
    try:
        commits = store.list_commit_set(job.id)
    except VersionedError:  # not a commit id: a run's own id
        return job.created
    return min([job.created, *(c.finished or c.started for c in commits)])
