"""A pipeline whose datums fan out over static Dagster steps, one per batch.

``@pipeline(..., fan_out=8)`` builds a graph-backed asset: a planning step records the job's plan
in the store, each of eight batch steps processes its share of the datums wherever the executor
puts it (another process, a Dask worker, a Celery worker, a Kubernetes pod), and a finishing step
collects the batches and writes the output commit. No scheduler of our own: Dagster's executor
spreads the work; the plan in the store is what every step agrees on.

The batch count is fixed when the pipeline is defined, so the batches are static ops, not
dynamic outputs: executors that submit only the steps they see up front (dagster-dask,
dagster-io/dagster#9785) run every batch, and the finishing step cannot run before all of them.
The steps pass nothing to each other (``Nothing`` dependencies): a batch knows its number from
its op, and the job record in the store says whether there is work, so no IO manager or shared
filesystem is needed between workers — only the store and the instance.

(No ``from __future__ import annotations``: Dagster reads the op annotations at definition time.)
"""

import warnings

import dagster as dg

from dagster_versioned.errors import JobFailed
from dagster_versioned.io.resource import VersionedStoreResource
from dagster_versioned.pipelines.context import (
    REPROCESS_CONFIG,
    forward_logs,
    job_metadata,
    mark_downstream_unrunnable,
    pipes_channel,
    prelude,
    reprocess_request,
)
from dagster_versioned.pipelines.report import (
    asset_description,
    failed_datums,
    output_version,
    report_metadata,
)
from dagster_versioned.pps.jobs import JobState, JobStore
from dagster_versioned.pps.runner import finish_job, process_batch, start_job


def fanout_asset(p, deps: list[dg.AssetKey]) -> dg.AssetsDefinition:  # noqa: ANN001
    spec = p.spec
    batches = p.fan_out

    def done_before(store, gid) -> bool:  # noqa: ANN001
        """A job that already succeeded (a re-executed run) has no batch left to process."""
        return JobStore(store).load_job(spec.name, gid).state == JobState.SUCCESS

    @dg.op(
        name=f"{spec.name}__plan",
        ins={"start": dg.In(dg.Nothing)},
        out=dg.Out(dg.Nothing),
        config_schema=REPROCESS_CONFIG,
    )
    def plan(context: dg.OpExecutionContext, versioned_store: VersionedStoreResource) -> None:
        store = versioned_store.store
        request, rerun_pins = reprocess_request(context, store, spec)
        gid, pinned = prelude(context, store)
        try:
            start_job(
                store,
                spec,
                gid,
                run_id=context.run.run_id,
                pinned={**pinned, **rerun_pins},
                reprocess=request,
            )
        except JobFailed as e:
            mark_downstream_unrunnable(store, spec.name, gid, context.run.run_id)
            raise dg.Failure(description=str(e), metadata=job_metadata(e.job)) from e

    def batch_op(batch: int) -> dg.OpDefinition:
        @dg.op(
            name=f"{spec.name}__datums_{batch}",
            ins={"planned": dg.In(dg.Nothing)},
            out=dg.Out(dg.Nothing),
            tags={"dagster_versioned/batch": str(batch)},
        )
        def process(
            context: dg.OpExecutionContext, versioned_store: VersionedStoreResource
        ) -> None:
            store = versioned_store.store
            gid, _ = prelude(context, store)
            if done_before(store, gid):
                return
            channel = pipes_channel(context, spec)
            try:
                with forward_logs(context):
                    process_batch(store, spec, gid, batch, batches, channel=channel)
            except JobFailed as e:
                raise dg.Failure(description=str(e), metadata=job_metadata(e.job)) from e
            if channel is not None and (reported := channel.reported_metadata()):
                context.add_output_metadata(reported)  # on this batch step's output

        return process

    @dg.op(name=f"{spec.name}__finish", ins={"batches": dg.In(dg.Nothing)})
    def finish(
        context: dg.OpExecutionContext, versioned_store: VersionedStoreResource
    ) -> dg.Output[None]:
        store = versioned_store.store
        gid, _ = prelude(context, store)
        try:
            if done_before(store, gid):
                job = JobStore(store).load_job(spec.name, gid)
            else:
                job = finish_job(store, spec, gid)
        except JobFailed as e:
            mark_downstream_unrunnable(store, spec.name, gid, context.run.run_id)
            raise dg.Failure(description=str(e), metadata=job_metadata(e.job)) from e
        report = report_metadata(store, job, failed_datums(store, job))
        with warnings.catch_warnings():  # data_version on an op's Output is "beta" in 1.13
            warnings.simplefilter("ignore", dg.BetaWarning)
            return dg.Output(
                None,
                metadata={**job_metadata(job), **report},
                data_version=dg.DataVersion(output_version(store, spec, job) or gid),
            )

    steps = [batch_op(i) for i in range(batches)]

    def compose(**upstream: object) -> object:
        planned = plan(start=list(upstream.values()))
        return finish(batches=[step(planned=planned) for step in steps])

    return dg.graph_asset(
        key=p.key,
        ins={f"dep_{i}": dg.AssetIn(key=k, dagster_type=dg.Nothing) for i, k in enumerate(deps)},
        description=asset_description(spec, fan_out=batches),
        group_name=p.group_name,
        metadata={"dv/repo": spec.name, "dv/branch": spec.output_branch, "dv/fan_out": batches},
        kinds={"python"} if spec.fn is not None else {"shell"},
    )(compose)
