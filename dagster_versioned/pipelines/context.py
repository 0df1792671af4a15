"""What every step of a pipeline run shares: the run's global id, its jobs, logs and metadata.

A pipeline asset (``assets``) and the three steps of a fanned-out one (``fanout``) do the same
things around the engine call: find the run's global id, record CREATED jobs for the whole run,
forward the runner's log, mark downstream jobs unrunnable when one fails, and report the job as
metadata. They live here, below both, so neither has to import the other.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import dagster as dg

from dagster_versioned.errors import JobEnded, VersionedError
from dagster_versioned.io.naming import dagster_name
from dagster_versioned.io.tags import (
    GLOBAL_ID_TAG,
    INPUT_COMMIT_TAG,
    global_id_for_run,
    parse_input_commits,
)
from dagster_versioned.pipelines.pipes import PipesChannel
from dagster_versioned.pps.ids import JobId
from dagster_versioned.pps.jobs import JobInfo, JobState, JobStore
from dagster_versioned.pps.lifecycle import create_job
from dagster_versioned.pps.pretty import human_size, progress_text, state_text
from dagster_versioned.pps.reprocess import Reprocess
from dagster_versioned.pps.rerun import rerun_inputs
from dagster_versioned.pps.runner import downstream_of
from dagster_versioned.pps.spec import PipelineSpec
from dagster_versioned.store import Store


def asset_key_for(repo: str) -> dg.AssetKey:
    """Dagster asset names allow letters, digits and ``_``: ``-`` in a repo name becomes ``_``."""
    return dg.AssetKey([dagster_name(repo)])


RunContext = dg.AssetExecutionContext | dg.OpExecutionContext


def run_global_id(context: RunContext) -> JobId:
    """The run's global id (the id of each of its jobs): its tag, or (first use) one derived
    from the run id, then tagged."""
    tags = context.run.tags
    if GLOBAL_ID_TAG in tags:
        return JobId(tags[GLOBAL_ID_TAG])
    gid = global_id_for_run(context.run.run_id)
    with contextlib.suppress(Exception):
        context.instance.add_run_tags(context.run.run_id, {GLOBAL_ID_TAG: gid})
    return JobId(gid)


# Pipelines by name, so one asset can record CREATED jobs for the whole DAG of its run.
_REGISTRY: dict[str, PipelineSpec] = {}


def register(spec: PipelineSpec) -> None:
    """Make ``spec`` known to ``prelude`` (``versioned_definitions`` registers each pipeline)."""
    _REGISTRY[spec.name] = spec


def prelude(context: RunContext, store: Store) -> tuple[JobId, dict[str, str]]:
    """The run's global id and pinned input commits; records CREATED jobs for every pipeline
    the run selects (Pachyderm creates a DAG's jobs together, each waiting on its upstream)."""
    gid = run_global_id(context)
    tags = context.run.tags
    pinned = parse_input_commits(tags[INPUT_COMMIT_TAG]) if INPUT_COMMIT_TAG in tags else {}
    selection = context.run.asset_selection or set()
    for key in sorted(selection, key=lambda k: k.to_user_string()):
        other = _REGISTRY.get(key.path[-1])
        if other is not None and asset_key_for(other.name) == key:
            create_job(store, other, gid, context.run.run_id)
    return gid, dict(pinned)


REPROCESS_CONFIG: dict[str, dg.Field] = {
    "reprocess": dg.Field(
        dg.Any,
        default_value="failed",
        is_required=False,
        description=(
            "Which datums to process although they succeeded before: 'failed' (the default: "
            "succeeded datums are skipped, failed and changed ones run), 'all' (every datum "
            "runs again), or a list of datum ids or input paths (those run again, the other "
            "succeeded datums are skipped). `dvctl list datum P@JOB` lists a job's datums."
        ),
    ),
    "job": dg.Field(
        dg.Noneable(str),
        default_value=None,
        is_required=False,
        description=(
            "Rerun this job of the pipeline (its global id): read its input commits and reuse "
            "its succeeded datums, so with reprocess 'failed' only its failed datums run, as "
            "`dvctl restart datum P@JOB --failed`. The run's job has its own global id."
        ),
    ),
}
"""Run config of a pipeline asset's op (the plan op of a fanned-out one): datum-level reruns
from the launchpad, e.g. ``{"reprocess": "failed", "job": "<global id>"}``."""


def reprocess_request(
    context: RunContext, store: Store, spec: PipelineSpec
) -> tuple[Reprocess, dict[str, str]]:
    """The run config's ``Reprocess`` and the input commits it pins (the rerun job's).

    Checked before any job is recorded: a bad value, an unknown datum or a job still running
    fails the step with one line naming it, and leaves no job behind.
    """
    op = context.op_execution_context if isinstance(context, dg.AssetExecutionContext) else context
    config = op.op_config or {}
    try:
        request = Reprocess.parse(config.get("reprocess", "failed"), source=config.get("job"))
        return request, rerun_inputs(store, spec.name, request)
    except VersionedError as e:
        raise dg.Failure(description=f"{spec.name}: {e}") from e


def mark_downstream_unrunnable(store: Store, failed: str, gid: JobId, run_id: str) -> None:
    """Dagster will skip the steps downstream of a failed pipeline: say so in their jobs."""
    below = downstream_of(failed, _REGISTRY)
    jobs = JobStore(store)
    reason = f"unrunnable because the following upstream pipelines failed: {failed}"
    for name in below:
        job = jobs.find_job(name, gid)
        if job is None or job.state != JobState.CREATED:
            continue
        with contextlib.suppress(JobEnded):  # it ended meanwhile: that state is final
            jobs.update_job(
                job,
                lambda cur: (
                    cur.with_state(JobState.UNRUNNABLE, reason)
                    if cur.state == JobState.CREATED
                    else None
                ),
            )


def pipes_channel(context: RunContext, spec: PipelineSpec) -> PipesChannel | None:
    """A Dagster Pipes channel for a ``transform.cmd`` pipeline (a Python body needs none)."""
    return None if spec.fn is not None else PipesChannel(context)


class _ToDagster(logging.Handler):
    def __init__(self, context: RunContext) -> None:
        super().__init__(logging.INFO)
        self.context = context

    def emit(self, record: logging.LogRecord) -> None:
        level = "warning" if record.levelno >= logging.WARNING else "info"
        getattr(self.context.log, level)(self.format(record))


@contextlib.contextmanager
def forward_logs(context: RunContext) -> Iterator[None]:
    """Send the runner's log (datum failures, a command's output) to the run's Dagster log."""
    logger = logging.getLogger("dagster_versioned.pipelines")
    handler = _ToDagster(context)
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(min(previous or logging.INFO, logging.INFO))
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def job_metadata(job: JobInfo) -> dict[str, Any]:
    commit = job.output_commit or ""
    return {
        "global_id": dg.MetadataValue.text(job.id),
        "job": dg.MetadataValue.text(f"{job.pipeline}@{job.id}"),
        "state": dg.MetadataValue.text(state_text(job)),
        "progress": dg.MetadataValue.text(progress_text(job)),
        "datums_processed": dg.MetadataValue.int(job.data_processed),
        "datums_skipped": dg.MetadataValue.int(job.data_skipped),
        "datums_failed": dg.MetadataValue.int(job.data_failed),
        "datums_recovered": dg.MetadataValue.int(job.data_recovered),
        "datums_total": dg.MetadataValue.int(job.data_total),
        "dl": dg.MetadataValue.text(human_size(job.stats.download_bytes)),
        "ul": dg.MetadataValue.text(human_size(job.stats.upload_bytes)),
        "output_commit": dg.MetadataValue.text(commit),
        "url": dg.MetadataValue.path(f"dv://{job.pipeline}@{commit}/" if commit else ""),
        "restart": dg.MetadataValue.int(job.restart),
    }
