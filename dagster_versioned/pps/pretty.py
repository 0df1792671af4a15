"""How a job reads in ``list job`` and in the Dagster UI: PROGRESS and STATE like pachctl."""

from __future__ import annotations

from dagster_versioned.pps.jobs import JobInfo, JobState
from dagster_versioned.units import bytes_size

human_size = bytes_size


def progress_text(job: JobInfo) -> str:
    """``processed + skipped / total``, with ``+ recovered`` when any datum was recovered."""
    if job.data_recovered:
        return (
            f"{job.data_processed} + {job.data_skipped} + {job.data_recovered} / {job.data_total}"
        )
    return f"{job.data_processed} + {job.data_skipped} / {job.data_total}"


def state_text(job: JobInfo) -> str:
    """Lower-case state, ``: reason`` when there is one; ``-`` while only created."""
    if job.state == JobState.CREATED:
        return "-"
    if job.state == JobState.SUCCESS and job.data_total and job.data_skipped == job.data_total:
        return "success: there were no datums to process"
    text = job.state.short
    return f"{text}: {job.reason}" if job.reason else text
