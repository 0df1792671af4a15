"""``@pipeline``: a Pachyderm pipeline as a Dagster asset.

The asset's body is a thin shell around ``run_job``: it finds the run's global id (the run tag a
branch sensor set, or one derived from the run id), records CREATED jobs for every pipeline the
run selects — as Pachyderm creates a whole DAG's jobs when a commit lands — runs this pipeline's
job, and reports the job (state, PROGRESS, DL/UL, output commit) as materialisation metadata and
an asset check over its datums. The output tree's root node is the data version.

(No ``from __future__ import annotations`` here: Dagster reads the asset function's annotations
at definition time and needs the real classes.)
"""

import contextlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import dagster as dg

from dagster_versioned.durations import parse_duration
from dagster_versioned.errors import JobFailed, VersionedError
from dagster_versioned.io.resource import VersionedStoreResource
from dagster_versioned.pipelines.context import (
    REPROCESS_CONFIG,
    asset_key_for,
    forward_logs,
    job_metadata,
    mark_downstream_unrunnable,
    pipes_channel,
    prelude,
    reprocess_request,
)
from dagster_versioned.pipelines.fanout import fanout_asset
from dagster_versioned.pipelines.report import (
    asset_description,
    datum_check,
    failed_datums,
    output_version,
    report_metadata,
)
from dagster_versioned.pps.inputs import CombinedInput, Input, PfsInput, pfs_inputs
from dagster_versioned.pps.jobs import JobInfo, JobState
from dagster_versioned.pps.pretty import progress_text, state_text
from dagster_versioned.pps.runner import run_job
from dagster_versioned.pps.spec import PipelineSpec, Transform, load_spec_file
from dagster_versioned.store import Store

RESOURCE_KEY = "versioned_store"
DATUM_CHECK = "datums_succeeded"


@dataclass(frozen=True)
class Pipeline:
    """A pipeline ready to become a Dagster asset (``versioned_definitions`` does that)."""

    spec: PipelineSpec
    group_name: str | None = None
    tags: dict[str, str] | None = None
    fan_out: int = 1
    """Batches of datums run as Dagster dynamic outputs (1: all datums in the asset's step)."""
    automation_condition: dg.AutomationCondition | None = None
    """Put on the asset as is: the head-move sensors stay, this adds Declarative Automation."""

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def key(self) -> dg.AssetKey:
        return asset_key_for(self.spec.name)

    def trigger_branches(self) -> list[PfsInput]:
        """Inputs read through a ``<pipeline>-trigger-<n>`` branch."""
        return [leaf for leaf in pfs_inputs(self.spec.input) if leaf.trigger is not None]

    def to_asset(self, upstream: dict[tuple[str, str], dg.AssetKey]) -> dg.AssetsDefinition:
        """The asset; ``upstream`` maps each (repo, branch) input to the asset it depends on."""
        deps = sorted(
            {upstream[(leaf.repo, leaf.branch)] for leaf in pfs_inputs(self.spec.input)},
            key=lambda k: k.to_user_string(),
        )
        spec = self.spec
        if self.fan_out > 1:
            return fanout_asset(self, deps)

        @dg.asset(
            key=self.key,
            deps=deps,
            description=asset_description(spec),
            group_name=self.group_name,
            tags=self.tags,
            automation_condition=self.automation_condition,
            kinds={"python"} if spec.fn is not None else {"shell"},
            metadata={
                "dv/repo": spec.name,
                "dv/branch": spec.output_branch,
                "dv/input": dg.MetadataValue.json(spec.input.to_spec()),
            },
            check_specs=[
                dg.AssetCheckSpec(
                    DATUM_CHECK, asset=self.key, description="every datum of the job succeeded"
                )
            ],
            config_schema=REPROCESS_CONFIG,
        )
        def _pipeline_asset(
            context: dg.AssetExecutionContext, versioned_store: VersionedStoreResource
        ) -> dg.MaterializeResult:
            return execute(context, versioned_store.store, spec)

        return _pipeline_asset


def pipeline(
    _fn: Transform | None = None,
    *,
    input: Input,
    name: str | None = None,
    description: str = "",
    output_branch: str = "master",
    salt: str = "",
    datum_tries: int = 3,
    datum_timeout: float | str | None = None,
    job_timeout: float | str | None = None,
    parallelism: int = 1,
    egress: str | None = None,
    reprocess_spec: str = "until_success",
    group_name: str | None = None,
    fan_out: int = 1,
    automation_condition: dg.AutomationCondition | None = None,
) -> Any:
    """Turn ``fn(datum)`` into a pipeline: it runs once per datum of ``input``.

    Example::

        @pipeline(input=pfs("images", glob="/*"))
        def edges(datum: Datum) -> None:
            for src in datum.files("images"):
                (datum.out / src.name).write_bytes(detect_edges(src.read_bytes()))
    """

    def wrap(fn: Transform) -> Pipeline:
        spec = PipelineSpec(
            name=name or fn.__name__,
            input=input,
            fn=fn,
            output_branch=output_branch,
            description=description or (fn.__doc__ or "").strip(),
            salt=salt,
            datum_tries=datum_tries,
            datum_timeout=seconds(datum_timeout, "datum_timeout"),
            job_timeout=seconds(job_timeout, "job_timeout"),
            parallelism=parallelism,
            egress=egress,
            reprocess_spec=reprocess_spec,
        )
        return Pipeline(
            with_trigger_branches(spec),
            group_name=group_name,
            fan_out=fan_out,
            automation_condition=automation_condition,
        )

    return wrap(_fn) if _fn is not None else wrap


def seconds(value: float | str | None, what: str) -> float | None:
    """A timeout given as seconds or as a Go duration (``"1h30m"``, ``"2d"``)."""
    return None if value is None else parse_duration(value, what)


def pipeline_from_spec(
    path: str | Path,
    *,
    group_name: str | None = None,
    fan_out: int = 1,
    automation_condition: dg.AutomationCondition | None = None,
) -> Pipeline:
    """A pipeline from a Pachyderm pipeline-spec JSON file, read unchanged."""
    spec = with_trigger_branches(load_spec_file(path))
    return Pipeline(
        spec, group_name=group_name, fan_out=fan_out, automation_condition=automation_condition
    )


def with_trigger_branches(spec: PipelineSpec) -> PipelineSpec:
    """Point inputs that have a trigger at ``<pipeline>-trigger-<n>`` (n counts per repo).

    The trigger's source is the branch the input named, as in Pachyderm; the branch itself is
    created by the pipeline's sensor and outlives the pipeline.
    """
    counters: dict[str, int] = {}

    def rewrite(inp: Input) -> Input:
        if isinstance(inp, CombinedInput):
            return CombinedInput(inp.kind, tuple(rewrite(c) for c in inp.inputs))
        if inp.trigger is None or inp.branch.startswith(f"{spec.name}-trigger-"):
            return inp
        counters[inp.repo] = counters.get(inp.repo, 0) + 1
        branch = f"{spec.name}-trigger-{counters[inp.repo]}"
        trigger = replace(inp.trigger, branch=inp.branch)
        return replace(inp, branch=branch, trigger=trigger, name=inp.name or inp.repo)

    return replace(spec, input=rewrite(spec.input))


def ensure_trigger_branches(store: Store, p: Pipeline) -> None:
    for leaf in p.trigger_branches():
        assert leaf.trigger is not None
        with contextlib.suppress(VersionedError):
            store.inspect_branch(f"{leaf.repo}@{leaf.branch}")
            continue
        with contextlib.suppress(VersionedError):
            store.create_branch(f"{leaf.repo}@{leaf.branch}", trigger=leaf.trigger)


def execute(
    context: dg.AssetExecutionContext, store: Store, spec: PipelineSpec
) -> dg.MaterializeResult:
    request, rerun_pins = reprocess_request(context, store, spec)
    gid, pinned = prelude(context, store)

    def progress(job: JobInfo) -> None:
        if job.state in (JobState.RUNNING, JobState.FINISHING):
            context.log.debug(f"{spec.name}@{gid}: {progress_text(job)} {state_text(job)}")

    channel = pipes_channel(context, spec)
    try:
        with forward_logs(context):
            job = run_job(
                store,
                spec,
                gid,
                run_id=context.run.run_id,
                pinned={**pinned, **rerun_pins},
                on_progress=progress,
                channel=channel,
                reprocess=request,
            )
    except JobFailed as e:
        mark_downstream_unrunnable(store, spec.name, gid, context.run.run_id)
        failed = failed_datums(store, e.job)
        check = datum_check(e.job, failed, DATUM_CHECK)
        context.log_event(
            dg.AssetCheckEvaluation(
                asset_key=context.asset_key,
                check_name=DATUM_CHECK,
                passed=check.passed,
                metadata=check.metadata,
                severity=check.severity,
            )
        )  # a failed job still says which datums failed, on the asset's check
        raise dg.Failure(
            description=str(e),
            metadata={**job_metadata(e.job), **report_metadata(store, e.job, failed)},
        ) from e
    reported = channel.reported_metadata() if channel is not None else {}
    failed = failed_datums(store, job)
    return dg.MaterializeResult(
        metadata={**reported, **job_metadata(job), **report_metadata(store, job, failed)},
        data_version=dg.DataVersion(output_version(store, spec, job) or gid),
        check_results=[datum_check(job, failed, DATUM_CHECK)],
    )
