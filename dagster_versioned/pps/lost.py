"""Ending the jobs of lost workers: processes killed mid-job that left only their lease.

A worker killed with SIGKILL, by the OOM killer or with its machine cannot end its job, and
nothing else would: the executor or code server that sees it die fails the Dagster run, not
the job, and with the default run launcher nothing at all notices a run worker whose code
server went too. Every worker holds a lease (``leases.py``); ``end_lost_workers`` — run by the
``dv_lost_workers`` sensor every few seconds — ends the jobs whose leases outlived their
holders and hands their Dagster runs to the caller.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from dagster_versioned.pps.jobs import JobInfo, JobState, JobStore
from dagster_versioned.pps.leases import WorkerLease, drop_lease, list_leases
from dagster_versioned.pps.lifecycle import end_job
from dagster_versioned.store import Store

log = logging.getLogger("dagster_versioned.pipelines")


def end_lost_workers(
    store: Store, *, settle_run: Callable[[WorkerLease, str], bool] | None = None
) -> list[tuple[WorkerLease, JobInfo | None]]:
    """End FAILURE every job a lost worker was working on, the reason naming the worker.

    A lost worker is one whose lease outlived it (``leases.py``): killed with SIGKILL, by the
    OOM killer, or with its machine, it could not end its job. A job that ended meanwhile,
    or that a newer run restarted, is left as it is (terminal states are final). The lease
    is then dropped, unless ``settle_run(lease, reason)`` — told about a lost worker of a
    Dagster run while no other worker of that run is alive — returns ``False`` (the run still
    needs looking at: it is asked again on the next call). Returns each lost lease with the
    job's record afterwards (``None`` if the job is gone).

    Example::

        end_lost_workers(store)  # what the ``dv_lost_workers`` sensor runs every few seconds
    """
    leases = list_leases(store.records)
    alive_runs = {w.run_id for w in leases if not w.lost()}
    jobs = JobStore(store)
    out: list[tuple[WorkerLease, JobInfo | None]] = []
    for lease in leases:
        if not lease.lost():
            continue
        reason = lease.lost_reason()
        job = jobs.find_job(lease.pipeline, lease.job_id)
        if job is not None and not job.state.terminal and job.restart == lease.restart:
            job = end_job(
                store,
                lease.pipeline,
                lease.job_id,
                JobState.FAILURE,
                reason,
                None,
                run_id=lease.run_id,
                restart=lease.restart,
            )
            if job.reason == reason:
                log.warning("job %s@%s: %s", lease.pipeline, lease.job_id, reason)
        out.append((lease, job))
        settled = (
            settle_run is None
            or lease.run_id is None
            or (lease.run_id not in alive_runs and settle_run(lease, reason))
        )
        if settled:
            drop_lease(store.records, lease)
    return out


__all__ = ["end_lost_workers"]
