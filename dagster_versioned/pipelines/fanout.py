"""A pipeline whose datums fan out as Dagster dynamic outputs.

``@pipeline(..., fan_out=8)`` builds a graph-backed asset: a planning step records the job's plan
in the store and emits one dynamic output per batch, each batch step processes its share of the
datums wherever the executor puts it (another process, a Kubernetes pod, a Celery worker), and
a finishing step collects the batches and writes the output commit. No scheduler of our own:
Dagster's executor spreads the work; the plan in the store is what every step agrees on.

(No ``from __future__ import annotations``: Dagster reads the op annotations at definition time.)
"""

import dagster as dg

from dagster_versioned.errors import JobFailed
from dagster_versioned.io.resource import VersionedStoreResource
from dagster_versioned.pipelines.context import (
    forward_logs,
    job_metadata,
    mark_downstream_unrunnable,
    pipes_channel,
    prelude,
)
from dagster_versioned.pps.jobs import JobState, JobStore
from dagster_versioned.pps.runner import finish_job, process_batch, start_job

INTERMEDIATE_IO = "dv_intermediate"
"""Resource key of the IO manager for batch numbers passed between steps (Dagster's own
filesystem IO manager: they are plumbing, not data, and must not become versioned commits)."""


def fanout_asset(p, deps: list[dg.AssetKey]) -> dg.AssetsDefinition:  # noqa: ANN001
    spec = p.spec
    batches = p.fan_out

    @dg.op(
        name=f"{spec.name}__plan",
        ins={"start": dg.In(dg.Nothing)},
        out=dg.DynamicOut(int, io_manager_key=INTERMEDIATE_IO),
    )
    def plan(context: dg.OpExecutionContext, versioned_store: VersionedStoreResource):  # noqa: ANN202
        store = versioned_store.store
        gid, pinned = prelude(context, store)
        try:
            job = start_job(store, spec, gid, run_id=context.run.run_id, pinned=pinned)
        except JobFailed as e:
            mark_downstream_unrunnable(store, spec.name, gid, context.run.run_id)
            raise dg.Failure(description=str(e), metadata=job_metadata(e.job)) from e
        if job.state == JobState.SUCCESS:
            yield dg.DynamicOutput(-1, mapping_key="done")
            return
        for i in range(batches):
            yield dg.DynamicOutput(i, mapping_key=f"batch_{i}")

    @dg.op(name=f"{spec.name}__datums", out=dg.Out(int, io_manager_key=INTERMEDIATE_IO))
    def process(
        context: dg.OpExecutionContext, versioned_store: VersionedStoreResource, batch: int
    ) -> int:
        if batch >= 0:
            gid, _ = prelude(context, versioned_store.store)
            channel = pipes_channel(context, spec)
            try:
                with forward_logs(context):
                    process_batch(versioned_store.store, spec, gid, batch, batches, channel=channel)
            except JobFailed as e:
                raise dg.Failure(description=str(e), metadata=job_metadata(e.job)) from e
            if channel is not None and (reported := channel.reported_metadata()):
                context.add_output_metadata(reported)  # on this batch step's output
        return batch

    @dg.op(name=f"{spec.name}__finish", out=dg.Out(dg.Nothing))
    def finish(
        context: dg.OpExecutionContext, versioned_store: VersionedStoreResource, done: list[int]
    ) -> None:
        store = versioned_store.store
        gid, _ = prelude(context, store)
        try:
            if -1 in done:
                job = JobStore(store).load_job(spec.name, gid)
            else:
                job = finish_job(store, spec, gid)
        except JobFailed as e:
            mark_downstream_unrunnable(store, spec.name, gid, context.run.run_id)
            raise dg.Failure(description=str(e), metadata=job_metadata(e.job)) from e
        context.add_output_metadata(job_metadata(job))

    def compose(**upstream: object) -> object:
        return finish(plan(start=list(upstream.values())).map(process).collect())

    return dg.graph_asset(
        key=p.key,
        ins={f"dep_{i}": dg.AssetIn(key=k, dagster_type=dg.Nothing) for i, k in enumerate(deps)},
        description=spec.description or f"Pachyderm-style pipeline {spec.name} (fanned out)",
        group_name=p.group_name,
        metadata={"dv/repo": spec.name, "dv/branch": spec.output_branch, "dv/fan_out": batches},
        kinds={"python"} if spec.fn is not None else {"shell"},
    )(compose)
