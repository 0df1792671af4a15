"""Rerun a job's datums as a new job: ``dvctl restart datum P@JOB DATUM…`` and ``--failed``.

The new job has its own global id and output commit (on top of the output head, as any job's),
reads the input commits of the job it reruns, reuses the datums that succeeded there, and
processes the failed ones (``--failed``) or the named ones (``reprocess.py``). It runs in the
calling process with the engine alone — no Dagster — so its pipeline must be one the store
can rebuild: a ``transform.cmd`` pipeline, whose job record holds all the command ran. A
Python pipeline's code lives in a Dagster code location; ``PythonPipeline`` says how to rerun
it from the UI instead (the asset's run config), and nothing is started.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dagster_versioned.errors import InvalidSpec, JobNotFound, VersionedError
from dagster_versioned.pps.ids import JobId
from dagster_versioned.pps.inputs import input_from_spec
from dagster_versioned.pps.jobs import JobInfo, JobStore
from dagster_versioned.pps.reprocess import NAMED, Reprocess, check_names
from dagster_versioned.pps.runner import run_job
from dagster_versioned.pps.spec import PipelineSpec, parse_duration
from dagster_versioned.store import Store
from dagster_versioned.store.commits import new_commit_id


class PythonPipeline(VersionedError, RuntimeError):
    """The pipeline's code is Python known only to its Dagster code location."""

    def __init__(self, pipeline: str, function: str, job_id: JobId, reprocess: Reprocess) -> None:
        self.pipeline = pipeline
        value = (
            "[" + ", ".join(reprocess.names) + "]" if reprocess.mode == NAMED else reprocess.mode
        )
        super().__init__(
            f"pipeline '{pipeline}' runs Python code ({function}) that only its Dagster code "
            f"location can load: in the Dagster UI, materialize asset {pipeline} with the run "
            f"config `reprocess: {value}` and `job: {job_id}` on its op"
        )


class JobNotEnded(VersionedError, RuntimeError):
    """The job to rerun is still running: its datums are not final."""


class SpecChanged(VersionedError, RuntimeError):
    """The job ran an earlier version of its pipeline than the current one."""


def spec_of_job(store: Store, job: JobInfo, reprocess: Reprocess | None = None) -> PipelineSpec:
    """The pipeline spec job ``job`` ran, rebuilt from its record (``transform.cmd`` only).

    The job's details hold its command, input, salt, tries, parallelism, timeouts and egress;
    the pipeline record holds its output branch and its own salt setting. A job of an earlier
    pipeline version is refused (``SpecChanged``): its datums' hashes belong to code that is
    no longer the pipeline's, and running it would register the old version again.
    """
    details = job.details
    transform = dict(details.get("transform") or {})
    if "cmd" not in transform:
        function = str(transform.get("python", "?"))
        raise PythonPipeline(job.pipeline, function, job.id, reprocess or Reprocess())
    record = JobStore(store).load_pipeline(job.pipeline) or {}
    fingerprint = record.get("fingerprint") or {}
    kwargs: dict[str, Any] = {}
    for key in ("datum_timeout", "job_timeout"):
        if details.get(key):
            kwargs[key] = parse_duration(details[key], f"job {job.pipeline}@{job.id}: {key}")
    if "egress" in details:
        kwargs["egress"] = details["egress"]["URL"]
    try:
        spec = PipelineSpec(
            name=job.pipeline,
            input=input_from_spec(details["input"]),
            cmd=tuple(transform["cmd"]),
            stdin=tuple(transform.get("stdin") or ()),
            env=dict(transform.get("env") or {}),
            image=transform.get("image"),
            working_dir=transform.get("working_dir"),
            err_cmd=tuple(transform.get("err_cmd") or ()),
            accept_return_code=tuple(int(c) for c in transform.get("accept_return_code") or ()),
            output_branch=job.output_branch,
            description=str(record.get("description", "")),
            salt=str(fingerprint.get("salt", "")),
            datum_tries=int(details.get("datum_tries", 3)),
            parallelism=int((details.get("parallelism_spec") or {}).get("constant", 1)),
            reprocess_spec=str(details.get("reprocess_spec", "until_success")),
            **kwargs,
        )
    except (KeyError, TypeError, ValueError, InvalidSpec) as e:
        raise SpecChanged(
            f"job {job.pipeline}@{job.id}'s record does not say how to run it again ({e}); "
            "rerun it from the Dagster UI with the asset's `reprocess` run config"
        ) from e
    now = {
        "transform": spec.transform_hash,
        "input": spec.input.to_spec(),
        "output_branch": spec.output_branch,
        "salt": spec.salt,
    }
    if fingerprint and now != fingerprint:
        raise SpecChanged(
            f"job {job.pipeline}@{job.id} ran version {job.pipeline_version} of pipeline "
            f"'{job.pipeline}', which has changed since (now version {record.get('version')}): "
            "rerun a job of the current version (`dvctl list job -p "
            f"{job.pipeline}`)"
        )
    return spec


def rerun_job(
    store: Store,
    pipeline: str,
    job_id: JobId,
    reprocess: Reprocess,
    *,
    spec: PipelineSpec | None = None,
    on_progress: Callable[[JobInfo], None] | None = None,
) -> JobInfo:
    """Rerun job ``pipeline@job_id``'s datums as a new job and return the new job's record.

    ``reprocess`` picks the datums (``failed``: those that did not succeed; ``all``; or named
    ones, checked against the job's datums before anything starts). ``spec`` is the pipeline
    when the caller has it (a Python pipeline); without it the spec is rebuilt from the job's
    record. Raises ``JobFailed`` when the new job fails, as ``run_job``.
    """
    request = Reprocess(mode=reprocess.mode, names=reprocess.names, source=job_id)
    source = JobStore(store).load_job(pipeline, job_id)
    pinned = rerun_inputs(store, pipeline, request)
    if spec is None:
        spec = spec_of_job(store, source, request)
    new_id = JobId(new_commit_id())
    return run_job(store, spec, new_id, pinned=pinned, reprocess=request, on_progress=on_progress)


def rerun_inputs(store: Store, pipeline: str, request: Reprocess) -> dict[str, str]:
    """The input commits (repo → id) a rerun of ``request.source`` reads: that job's.

    Refuses a job that has not ended (its datums are not final), one that ended before it
    read its inputs, and names that are no datum of it (when its datums were recorded).
    """
    if request.source is None:
        return {}
    job_id = request.source
    source = JobStore(store).load_job(pipeline, job_id)
    if not source.state.terminal:
        raise JobNotEnded(
            f"job {pipeline}@{job_id} is still {source.state.short}: wait for it "
            f"(`dvctl wait job {pipeline}@{job_id}`) or stop it (`dvctl stop job "
            f"{pipeline}@{job_id}`), then rerun its datums"
        )
    if not source.input_commits:
        raise JobNotFound(
            f"job {pipeline}@{job_id} never read its inputs (it ended {source.state.short} "
            "before planning): there are no datums of it to rerun"
        )
    if request.mode == NAMED:
        recorded = JobStore(store).load_datums(pipeline, job_id, stats=False)
        if recorded:
            check_names(request.names, recorded, pipeline, job_id)
    return {c.repo: c.id for c in source.input_commits}
