"""``versioned_definitions``: pipelines → assets, sensors, source assets and resources.

One Dagster run is one global job: a sensor per input branch starts a run per head move, and
that run selects every pipeline downstream of the branch, through pipeline-to-pipeline edges,
so ``images → edges → montage`` runs as one run whose steps share the global id. An input that
reads a pipeline's repo on a branch other than its ``output_branch`` (deferred processing on an
output repo) is an input branch of its own, with its own sensor.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import dagster as dg

from dagster_versioned.errors import VersionedError
from dagster_versioned.io.checks import store_health_checks
from dagster_versioned.io.io_manager import VersionedIOManager
from dagster_versioned.io.naming import branch_sensor_name, dagster_name
from dagster_versioned.io.resource import VersionedStoreResource, open_store
from dagster_versioned.io.sensors import plan_tick
from dagster_versioned.io.sources import observe_repo, repo_source_asset
from dagster_versioned.io.tags import GLOBAL_ID_TAG
from dagster_versioned.pipelines.assets import RESOURCE_KEY, Pipeline, ensure_trigger_branches
from dagster_versioned.pipelines.context import asset_key_for, register
from dagster_versioned.pipelines.cron import cron_sensors
from dagster_versioned.pps.cron import ensure_tick_repos
from dagster_versioned.pps.ids import JobId
from dagster_versioned.pps.inputs import pfs_inputs
from dagster_versioned.pps.jobs import JobStore
from dagster_versioned.pps.leases import WorkerLease
from dagster_versioned.pps.lifecycle import create_job, register_pipeline
from dagster_versioned.pps.lost import end_lost_workers
from dagster_versioned.pps.runner import ensure_output_repo
from dagster_versioned.pps.spec import PipelineSpec
from dagster_versioned.store import BranchHead, Commit, Store

log = logging.getLogger("dagster_versioned")

Condition = Callable[[Commit, Commit | None, Store], bool]
_CONDITIONS: dict[str, Condition] = {}


def register_trigger_condition(name: str, condition: Condition) -> None:
    """Make ``Trigger(condition=name)`` evaluable: ``condition(source_head, target_head, store)``.

    Pachyderm sends users off to write a watcher application for conditions beyond size, cron
    and commits; here the trigger sensor calls the function on every tick instead.
    """
    _CONDITIONS[name] = condition


def _external_key(repo: str, branch: str) -> dg.AssetKey:
    if branch == "master":
        return asset_key_for(repo)
    return dg.AssetKey([dagster_name(f"{repo}__{branch}")])


def input_graph(
    pipelines: Sequence[Pipeline],
) -> tuple[dict[tuple[str, str], dg.AssetKey], dict[tuple[str, str], set[dg.AssetKey]]]:
    """(repo, branch) → the asset each input depends on, and external inputs → the pipelines a
    head move of that branch must run (transitively, through same-run edges)."""
    outputs = {(p.name, p.spec.output_branch): p for p in pipelines}
    upstream: dict[tuple[str, str], dg.AssetKey] = {}
    consumers: dict[tuple[str, str], set[str]] = {}
    for p in pipelines:
        for leaf in pfs_inputs(p.spec.input):
            key = (leaf.repo, leaf.branch)
            producer = outputs.get(key)
            upstream[key] = producer.key if producer else _external_key(*key)
            consumers.setdefault(key, set()).add(p.name)
    external: dict[tuple[str, str], set[dg.AssetKey]] = {}
    for key in upstream:
        if key in outputs:
            continue
        reached: set[str] = set()
        todo = list(consumers.get(key, ()))
        while todo:
            name = todo.pop()
            if name in reached:
                continue
            reached.add(name)
            output = next((k for k, p in outputs.items() if p.name == name), None)
            todo.extend(consumers.get(output, ()) if output else ())
        external[key] = {asset_key_for(n) for n in reached}
    return upstream, external


def versioned_definitions(
    pipelines: Sequence[Pipeline] = (),
    *,
    storage: str | None = None,
    storage_options: dict[str, Any] | None = None,
    assets: Sequence[Any] = (),
    sensors: Sequence[dg.SensorDefinition] = (),
    schedules: Sequence[Any] = (),
    jobs: Sequence[Any] = (),
    resources: dict[str, Any] | None = None,
    sensor_interval: int = 15,
    trigger_interval: int = 30,
    group_name: str | None = None,
    executor: Any = None,
    health_checks: bool = True,
) -> dg.Definitions:
    """Dagster definitions for ``pipelines`` on one store.

    With ``health_checks`` (the default), each input repo's source asset carries an ``fsck``
    asset check and the first one a ``gc`` dry-run check (``store_health_checks``); source
    assets are never materialized, so the checks run only when asked, never inside a job.

    Example::

        defs = versioned_definitions(pipelines=[edges, montage], storage="s3://bucket/dv")
    """
    names = [p.name for p in pipelines]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise VersionedError(f"two pipelines are named '{sorted(dup)[0]}'; names must be unique")
    for p in pipelines:
        register(p.spec)
    _prepare_store(pipelines, storage, storage_options)
    upstream, external = input_graph(pipelines)
    pipeline_assets = [p.to_asset(upstream) for p in pipelines]
    sources = [
        repo_source_asset(
            repo,
            branch,
            storage=storage,
            storage_options=storage_options,
            key=_external_key(repo, branch),
            group_name=group_name,
        )
        for (repo, branch) in sorted(external)
    ]
    by_key = {p.key: p.spec for p in pipelines}
    branch_sensors = [
        pipeline_branch_sensor(
            repo,
            branch,
            [by_key[k] for k in sorted(keys, key=lambda k: k.to_user_string())],
            storage=storage,
            storage_options=storage_options,
            minimum_interval_seconds=sensor_interval,
        )
        for (repo, branch), keys in sorted(external.items())
    ]
    all_sensors = [*branch_sensors, *sensors]
    if pipelines:
        all_sensors.extend(ended_run_sensors(storage=storage, storage_options=storage_options))
        all_sensors.append(lost_workers_sensor(storage=storage, storage_options=storage_options))
        all_sensors.extend(
            cron_sensors(pipelines, storage=storage, storage_options=storage_options)
        )
        all_sensors.append(
            trigger_sensor(
                pipelines,
                storage=storage,
                storage_options=storage_options,
                minimum_interval_seconds=trigger_interval,
            )
        )
    base_resources: dict[str, Any] = {
        RESOURCE_KEY: VersionedStoreResource(
            storage=storage or "", storage_options=storage_options or {}
        ),
        "io_manager": VersionedIOManager(
            storage=storage or "", storage_options=storage_options or {}
        ),
    }
    checks = (
        store_health_checks(
            [_external_key(*key) for key in sorted(external)],
            repos={_external_key(*key): key[0] for key in external},
            resource_key=RESOURCE_KEY,
        )
        if health_checks
        else []
    )
    return dg.Definitions(
        assets=[*sources, *pipeline_assets, *assets],
        asset_checks=checks,
        sensors=all_sensors,
        schedules=list(schedules),
        jobs=list(jobs),
        resources={**base_resources, **(resources or {})},
        executor=executor,
    )


def pipeline_branch_sensor(
    repo: str,
    branch: str,
    specs: Sequence[PipelineSpec],
    *,
    storage: str | None = None,
    storage_options: dict[str, Any] | None = None,
    minimum_interval_seconds: int = 15,
) -> dg.SensorDefinition:
    """``branch_sensor`` for pipelines: one run per head move, and its jobs recorded at once.

    Like Pachyderm, which creates a commit's jobs in the transaction that makes the commit, the
    tick that sees a head move records CREATED jobs for every pipeline the run will execute,
    in ref-log order. A burst of commits thus queues its jobs in input-commit order however the
    runs are then scheduled, and ``dvctl list job`` / ``wait job`` see them before any run
    starts. Creating a job is idempotent, so a tick evaluated twice records nothing twice.
    """
    keys = [asset_key_for(s.name) for s in specs]

    @dg.sensor(
        name=branch_sensor_name(repo, branch),  # as branch_sensor names it
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"one run per head move of {repo}@{branch}: {', '.join(s.name for s in specs)}",
        asset_selection=keys,
    )
    def _pipeline_branch_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        store = open_store(storage, storage_options)
        tick = plan_tick(store, repo, branch, context.cursor)
        if tick.skip_reason is not None:
            return dg.SensorResult(skip_reason=dg.SkipReason(tick.skip_reason), cursor=tick.cursor)
        for request in tick.run_requests:
            for spec in specs:
                create_job(store, spec, JobId(request.tags[GLOBAL_ID_TAG]))
        observed = observe_repo(store, repo, branch, _external_key(repo, branch))  # data version
        return dg.SensorResult(
            run_requests=tick.run_requests, cursor=tick.cursor, asset_events=[observed]
        )

    return _pipeline_branch_sensor


def _prepare_store(
    pipelines: Sequence[Pipeline], storage: str | None, storage_options: dict[str, Any] | None
) -> None:
    """Create output repos and trigger branches and record the pipelines, as Pachyderm does on
    ``create pipeline``; an unreachable store is logged, not fatal (the UI must still load)."""
    if not pipelines:
        return
    try:
        store = open_store(storage, storage_options)
        jobs = JobStore(store)
        for p in pipelines:
            ensure_output_repo(store, p.spec)
            register_pipeline(jobs, p.spec)
            ensure_trigger_branches(store, p)
            ensure_tick_repos(store, p.spec)
    except (VersionedError, OSError) as e:
        log.warning("dagster_versioned: could not prepare the store for pipelines: %s", e)


def trigger_sensor(
    pipelines: Sequence[Pipeline] = (),
    *,
    storage: str | None = None,
    storage_options: dict[str, Any] | None = None,
    name: str = "dv_branch_triggers",
    minimum_interval_seconds: int = 30,
) -> dg.SensorDefinition:
    """A sensor that re-evaluates cron and custom trigger conditions on its own tick.

    Pachyderm checks a trigger only when a commit lands, so a quiet staging branch is never
    promoted by its cron condition; this sensor moves it on schedule. The head move it makes is
    a ref-log entry like any other, so the branch sensors start the runs.
    """

    @dg.sensor(
        name=name,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="promotes branches whose cron or custom trigger condition holds",
    )
    def _trigger_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        store = open_store(storage, storage_options)
        for p in pipelines:
            ensure_trigger_branches(store, p)
        fired = evaluate_time_triggers(store)
        for entry in fired:
            context.log.info(f"trigger moved {entry.repo}@{entry.branch} to {entry.head}")
        return dg.SkipReason(
            f"{len(fired)} branch(es) promoted by their trigger" if fired else "no trigger fired"
        )

    return _trigger_sensor


def evaluate_time_triggers(store: Store) -> list[BranchHead]:
    """Evaluate every trigger with a cron or custom condition, in every repo; returns the moves
    (the evaluation is the store's, ``store/trigger_engine.py``; the registered custom
    conditions are this module's)."""

    def custom(name: str, source: Commit, target: Commit | None) -> bool:
        cond = _CONDITIONS.get(name)
        return cond is not None and bool(cond(source, target, store))

    return store.evaluate_time_triggers(custom)


def ended_run_sensors(
    *, storage: str | None = None, storage_options: dict[str, Any] | None = None
) -> list[dg.SensorDefinition]:
    """End the job records of a run that ended before running them.

    Dagster skips steps downstream of a failure and stops all steps of a canceled run; their
    job records would otherwise stay CREATED (or RUNNING) for ever, and ``dvctl wait job``
    would never return. A run that *succeeded* with a job unfinished had steps its executor
    never ran (an executor that drops steps it did not see up front): that job ends FAILURE,
    so a dropped step never looks like a success.
    """
    sensors: list[dg.SensorDefinition] = []
    for status, state, reason in (
        (dg.DagsterRunStatus.FAILURE, "UNRUNNABLE", "the run failed before this job ran"),
        (dg.DagsterRunStatus.CANCELED, "KILLED", "the run was canceled"),
        (
            dg.DagsterRunStatus.SUCCESS,
            "FAILURE",
            "the run ended successfully but never finished this job: its executor did not run "
            "all of the job's steps",
        ),
    ):

        def end(
            context: dg.RunStatusSensorContext, _state: str = state, _reason: str = reason
        ) -> None:
            from dagster_versioned.io.tags import GLOBAL_ID_TAG, global_id_for_run
            from dagster_versioned.pps.jobs import JobState
            from dagster_versioned.pps.lifecycle import end_orphaned_jobs

            run = context.dagster_run
            gid = run.tags.get(GLOBAL_ID_TAG) or global_id_for_run(run.run_id)
            store = open_store(storage, storage_options)
            end_orphaned_jobs(store, JobId(gid), run.run_id, JobState[_state], _reason)

        sensors.append(
            dg.run_status_sensor(
                run_status=status,
                name=f"dv_{status.value.lower()}_runs",
                default_status=dg.DefaultSensorStatus.RUNNING,
            )(end)
        )
    return sensors


RUN_GRACE = 10.0
"""Seconds after a lost worker's last heartbeat before the sensor fails its Dagster run itself:
a run worker that is alive (its step process was killed) reports the crash sooner."""


def lost_workers_sensor(
    *,
    storage: str | None = None,
    storage_options: dict[str, Any] | None = None,
    minimum_interval_seconds: int = 5,
) -> dg.SensorDefinition:
    """End the jobs of workers killed mid-job (SIGKILL, OOM, a lost machine), and their runs.

    Dagster's run monitoring cannot see a dead run worker with the default run launcher, so
    its run would stay STARTED and the job RUNNING for ever. Every worker holds a lease in
    the store (``pipelines/leases.py``); this sensor finds leases whose process is gone, ends
    their jobs FAILURE with a reason naming the worker, and reports a run that no live worker
    is left in as failed — the UI shows why, and the FAILURE run-status sensor then marks its
    downstream jobs UNRUNNABLE. A re-execution restarts the job (``restart`` + 1) and keeps
    the datums that had finished.
    """

    @dg.sensor(
        name="dv_lost_workers",
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="ends jobs whose worker was killed mid-job, and fails their runs",
    )
    def _lost_workers_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        store = open_store(storage, storage_options)

        def settle_run(lease: WorkerLease, reason: str) -> bool:
            assert lease.run_id is not None  # only asked about workers of a Dagster run
            return fail_lost_run(context.instance, lease.run_id, reason, lease.time)

        found = end_lost_workers(store, settle_run=settle_run)
        for lease, job in found:
            state = job.state.short if job is not None else "gone"
            context.log.warning(f"{lease.pipeline}@{lease.job_id} ({state}): {lease.lost_reason()}")
        return dg.SkipReason(f"{len(found)} lost worker(s)" if found else "no lost worker")

    return _lost_workers_sensor


def fail_lost_run(
    instance: dg.DagsterInstance, run_id: str, reason: str, last_heard: float
) -> bool:
    """Report run ``run_id`` failed (canceled, if it was being canceled) because a worker of it
    was lost; ``False`` while it is too early to tell (``RUN_GRACE``). ``True`` once nothing
    is left to do: the run ended, is unknown, or was reported now."""
    run = instance.get_run_by_id(run_id)
    if run is None or run.status not in (
        dg.DagsterRunStatus.STARTING,
        dg.DagsterRunStatus.STARTED,
        dg.DagsterRunStatus.CANCELING,
    ):
        return True
    if time.time() - last_heard < RUN_GRACE:
        return False
    message = f"{reason}; Dagster cannot see a dead run worker, so dagster-versioned ends the run"
    if run.status == dg.DagsterRunStatus.CANCELING:
        instance.report_run_canceled(run, message)
    else:
        instance.report_run_failed(run, message)
    return True
