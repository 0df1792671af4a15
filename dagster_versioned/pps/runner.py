"""Running one job: ``<pipeline>@<global id>`` from its input commits to its output commit.

The runner is plain Python over the store, so it is tested without Dagster; the Dagster asset
calls it once per materialisation. A job reads the input commits of its global id (the commit
that started it, and its upstream pipelines' outputs with the same id), computes datums, skips
those that succeeded before with the same inputs, code and salt (their outputs are reused by
reference), processes the rest on a worker pool, and writes output commit ``<pipeline>@<id>``
on top of the previous one, so a job costs O(changed datums).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from dagster_versioned.errors import (
    JobEnded,
    JobFailed,
    Unrunnable,
    VersionedError,
)
from dagster_versioned.pps.batches import (
    PartialResults,
    batch_dir,
    outputs_stored,
    read_batches,
    succeeded_before,
    write_batch,
)
from dagster_versioned.pps.commands import cancel_commands, release_commands
from dagster_versioned.pps.datums import DatumSpec
from dagster_versioned.pps.ids import DatumId, JobId
from dagster_versioned.pps.jobs import (
    DatumInfo,
    DatumState,
    JobInfo,
    JobState,
    JobStore,
)
from dagster_versioned.pps.leases import hold_lease, lease_session
from dagster_versioned.pps.lifecycle import (
    Progress,
    create_job,
    end_job,
    notify,
    output_exists,
    restarted,
    save_change,
    totals,
)
from dagster_versioned.pps.ordering import wait_for_earlier_jobs
from dagster_versioned.pps.output import OutputCollision, egress, write_output
from dagster_versioned.pps.plan import (
    find_plan,
    load_plan,
    make_plan,
    save_plan,
)
from dagster_versioned.pps.reprocess import Reprocess
from dagster_versioned.pps.spec import PipelineSpec
from dagster_versioned.pps.transform import CommandChannel, DatumResult, run_datum
from dagster_versioned.store import Store
from dagster_versioned.store.commits import now

log = logging.getLogger("dagster_versioned.pipelines")


def ensure_output_repo(store: Store, spec: PipelineSpec) -> None:
    with contextlib.suppress(VersionedError):
        store.create_repo(spec.name, description=f"Output repo for pipeline {spec.name}.")


def run_job(
    store: Store,
    spec: PipelineSpec,
    job_id: JobId,
    *,
    run_id: str | None = None,
    pinned: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
    on_progress: Callable[[JobInfo], None] | None = None,
    channel: CommandChannel | None = None,
    reprocess: Reprocess | None = None,
) -> JobInfo:
    """Run the job to its end in this process and return its record.

    Raises ``JobFailed`` unless it ends in SUCCESS. ``pinned`` maps ``repo`` → commit id for
    inputs that must be read at a given commit (the commit a sensor saw), not the branch head.
    ``channel`` carries a ``transform.cmd``'s output (Dagster Pipes inside a Dagster step).
    ``reprocess`` says which succeeded datums to process again (``reprocess.py``).
    """
    with lease_session():  # one worker lease from plan to output commit, no gap between
        job = start_job(
            store,
            spec,
            job_id,
            run_id=run_id,
            pinned=pinned,
            on_progress=on_progress,
            reprocess=reprocess,
        )
        if job.state == JobState.SUCCESS:
            return job
        live = {"job": job}

        progress = Progress(JobStore(store), on_progress)

        def count(result: DatumResult) -> None:
            live["job"] = progress.count(live["job"], result)

        process_batch(store, spec, job_id, 0, 1, params=params, on_result=count, channel=channel)
        progress.flush(live["job"])
        return finish_job(store, spec, job_id, on_progress=on_progress)


def start_job(
    store: Store,
    spec: PipelineSpec,
    job_id: JobId,
    *,
    run_id: str | None = None,
    pinned: dict[str, str] | None = None,
    on_progress: Callable[[JobInfo], None] | None = None,
    reprocess: Reprocess | None = None,
) -> JobInfo:
    """CREATED → STARTING → RUNNING: wait for earlier jobs, plan, and record the plan.

    A job that already succeeded (its output commit exists) is returned as it is, so running
    the same global job twice is harmless; one that failed is restarted (``restart`` + 1), and
    so is one a lost worker left mid-way. A restart keeps the datums an earlier incarnation
    finished (same hash, outputs still stored): they are not processed again. ``reprocess``
    names datums to process although they succeeded before, and the job a rerun reruns.
    """
    jobs = JobStore(store)
    ensure_output_repo(store, spec)
    job = create_job(store, spec, job_id, run_id)
    succeeded = output_exists(store, spec.name, job_id)

    def take_on(current: JobInfo) -> JobInfo | None:
        if current.state == JobState.SUCCESS and succeeded:
            return None
        if current.state.terminal or (
            current.state != JobState.CREATED and current.dagster_run_id not in (None, run_id)
        ):  # it ended, or another run left it mid-way (its worker was lost): restart it
            current = restarted(current)
        return replace(current, dagster_run_id=run_id or current.dagster_run_id).with_state(
            JobState.STARTING
        )

    job = jobs.restart_job(job, take_on)
    if job.state == JobState.SUCCESS:
        return job
    notify(on_progress, job)
    with job_guard(store, spec, job, on_progress, step="plan"):
        wait_for_earlier_jobs(jobs, job)
        finished = _finished_before(store, spec, job_id)
        plan = make_plan(store, spec, job, pinned or {}, finished, reprocess)
        # The plan (holding the datums kept from earlier incarnations) is saved before their
        # batch files go, so a kill between the two loses none of them.
        save_plan(store, spec.name, job_id, plan)
        store.records.delete_tree(batch_dir(spec.name, job_id))
        return save_change(
            jobs,
            job,
            lambda cur: replace(
                cur.with_state(JobState.RUNNING),
                input_commits=plan.inputs,
                data_total=len(plan.order),
                data_skipped=len(plan.skipped),
                data_processed=len(plan.finished),
            ),
            on_progress,
        )
    raise AssertionError("unreachable")  # job_guard re-raises


def _finished_before(store: Store, spec: PipelineSpec, job_id: JobId) -> dict[DatumId, DatumInfo]:
    """Datums that succeeded in earlier incarnations of the job: in their batch files, or
    kept by the last plan from the one before; only those whose outputs are still stored."""
    earlier = find_plan(store, spec.name, job_id)
    found = {d.id: d for d in earlier.finished} if earlier is not None else {}
    found.update(succeeded_before(store, spec.name, job_id))
    return {d.id: d for d in outputs_stored(store, found.values())}


def process_batch(
    store: Store,
    spec: PipelineSpec,
    job_id: JobId,
    index: int,
    count: int,
    *,
    params: dict[str, Any] | None = None,
    on_result: Callable[[DatumResult], None] | None = None,
    channel: CommandChannel | None = None,
) -> list[DatumInfo]:
    """Process batch ``index`` of ``count`` of the job's datums on a pool of ``parallelism``.

    Any process can run a batch (Dagster dynamic outputs spread them over workers); results go
    to the job's batch files (``batches.py``) for ``finish_job`` to collect. Datums that succeed
    are recorded as they end, so a worker killed mid-batch leaves them to the job's restart.
    """
    jobs = JobStore(store)
    plan = load_plan(store, spec.name, job_id)
    job = jobs.load_job(spec.name, job_id)
    work = plan.batch(index, count)
    infos: list[DatumInfo] = []
    scratch = Path(tempfile.mkdtemp(prefix=f"dv-{spec.name}-"))
    release_commands(spec.name, job_id)  # a restart of a job killed in this process may run
    with job_guard(store, spec, job, None, step=f"datums {index + 1}/{count}"):
        partial = PartialResults(store.records, spec.name, job_id, job.restart, index)
        pool = ThreadPoolExecutor(spec.parallelism, thread_name_prefix=f"dv-{spec.name}")

        stop = StopPoll(jobs, spec.name, job_id)

        def one(item: tuple[DatumSpec, str]) -> tuple[DatumResult, DatumInfo]:
            result = _run_one(store, stop, spec, job, item[0], scratch, params, channel)
            info = _datum_info(item[0], item[1], result)
            partial.add(info)
            return result, info

        ended = False
        try:
            for result, info in pool.map(one, work):
                infos.append(info)
                if on_result is not None:
                    on_result(result)
            ended = True
        finally:
            if not ended:  # interrupted (run terminated) or a datum raised: end the rest now
                cancel_commands(spec.name, job_id)
            pool.shutdown(wait=ended, cancel_futures=True)
            partial.close(flush=not ended)  # interrupted: what succeeded is kept for a restart
            shutil.rmtree(scratch, ignore_errors=True)
        write_batch(store.records, spec.name, job_id, job.restart, index, infos)
        partial.discard()
    return infos


def _datum_info(d: DatumSpec, h: str, result: DatumResult) -> DatumInfo:
    return DatumInfo(
        id=d.id,
        hash=h,
        state=result.state,
        files=tuple(i.ref for i in d.inputs),
        outputs={p: e.to_json() for p, e in result.outputs.items()},
        stats=result.stats,
        reason=result.reason,
        tries=result.tries,
    )


def finish_job(
    store: Store,
    spec: PipelineSpec,
    job_id: JobId,
    *,
    on_progress: Callable[[JobInfo], None] | None = None,
) -> JobInfo:
    """Collect every batch, then write the output commit, egress, and end the job."""
    jobs = JobStore(store)
    plan = load_plan(store, spec.name, job_id)
    job = jobs.load_job(spec.name, job_id)
    with job_guard(store, spec, job, on_progress, step="finish"):
        by_id = {d.id: d for d in (*plan.skipped, *plan.finished)}
        by_id.update((i.id, i) for i in read_batches(store.records, spec.name, job_id, job.restart))
        missing = [d for d in plan.order if d not in by_id]
        if missing:
            raise _Killed(f"{len(missing)} datums were never processed (first: {missing[0]})")
        infos = [by_id[d] for d in plan.order]
        recovered = plan.recovered
        jobs.save_datums(spec.name, job_id, infos)
        failed = next((i for i in infos if i.state == DatumState.FAILED), None)
        if failed is not None:
            reason = f"datum {failed.id} failed after {failed.tries} tries: {failed.reason}"
            ended = save_change(
                jobs,
                job,
                lambda cur: totals(cur, infos, recovered).with_state(JobState.FAILURE, reason),
                on_progress,
            )
            raise JobFailed(ended)
        # FINISHING is claimed before the output commit is written: a job that another
        # process ended meanwhile (a sensor's KILLED) gets no output commit.
        job = save_change(
            jobs,
            job,
            lambda cur: totals(cur, infos, recovered).with_state(JobState.FINISHING),
            on_progress,
        )
        commit = write_output(store, spec, job, infos, plan)
        if spec.egress:
            job = save_change(
                jobs,
                job,
                lambda cur: replace(cur, output_commit=commit.id).with_state(JobState.EGRESSING),
                on_progress,
            )
            egress(store, commit, spec.egress)
        return save_change(
            jobs,
            job,
            lambda cur: replace(cur, output_commit=commit.id).with_state(JobState.SUCCESS),
            on_progress,
        )
    raise AssertionError("unreachable")  # job_guard re-raises


@contextlib.contextmanager
def job_guard(
    store: Store,
    spec: PipelineSpec,
    job: JobInfo,
    on_progress: Callable[[JobInfo], None] | None,
    *,
    step: str,
) -> Iterator[None]:
    """Hold a worker lease on ``job`` while the block runs, and record how the job ended when
    the block raises: KILLED, FAILURE or UNRUNNABLE.

    An internal error is a failure; an interrupt (Dagster terminating the run) a kill. Either
    way the record says so before the exception leaves, so ``dvctl list job`` never shows a
    job stuck in RUNNING after its run is gone. A process killed outright (SIGKILL) cannot say
    so: its lease is what is left, and ``lost.end_lost_workers`` ends the job from it. Only this
    incarnation of the job (``job.restart``) is ever ended here, and always before the lease
    goes, so no moment is left where the job has neither an end nor a worker.
    """
    with (
        hold_lease(
            store.records,
            spec.name,
            job.id,
            restart=job.restart,
            run_id=job.dagster_run_id,
            step=step,
        ),
        _record_end(store, spec.name, job, on_progress),
    ):
        yield


@contextlib.contextmanager
def _record_end(
    store: Store, pipeline: str, job: JobInfo, on_progress: Callable[[JobInfo], None] | None
) -> Iterator[None]:
    """``job_guard``'s other half: end ``job`` as the exception leaving the block says."""
    try:
        yield
    except JobFailed:
        raise
    except JobEnded as e:  # another process ended the job (a sensor, a stop): it stays so
        ended = e.job
        assert isinstance(ended, JobInfo)
        raise JobFailed(ended) from e
    except (_Killed, OutputCollision, Unrunnable) as e:
        state = {
            _Killed: JobState.KILLED,
            OutputCollision: JobState.FAILURE,
            Unrunnable: JobState.UNRUNNABLE,
        }[type(e)]
        ended = end_job(store, pipeline, job.id, state, str(e), on_progress, restart=job.restart)
        raise JobFailed(ended) from e
    except BaseException as e:
        internal = isinstance(e, Exception)
        reason = (
            f"{type(e).__name__}: {e}"
            if internal
            else f"run terminated ({type(e).__name__}): the Dagster run was stopped mid-job"
        )
        state = JobState.FAILURE if internal else JobState.KILLED
        end_job(store, pipeline, job.id, state, reason, on_progress, restart=job.restart)
        raise


class StopPoll:
    """Whether ``dvctl stop job`` asked the job to stop, asked of the store at most every
    ``INTERVAL`` seconds: on S3 each ask is a HEAD and a LIST, and asked before every datum
    they were two fifths of a batch's requests."""

    INTERVAL = 1.0

    def __init__(self, jobs: JobStore, pipeline: str, job_id: JobId) -> None:
        self._jobs, self._pipeline, self._job_id = jobs, pipeline, job_id
        self._lock = threading.Lock()
        self._next = 0.0
        self._stopped = False

    def stopped(self) -> bool:
        with self._lock:
            now_s = time.monotonic()
            if not self._stopped and now_s >= self._next:
                self._stopped = self._jobs.stop_requested(self._pipeline, self._job_id)
                self._next = now_s + self.INTERVAL
            return self._stopped


def _run_one(
    store: Store,
    stop: StopPoll,
    spec: PipelineSpec,
    job: JobInfo,
    d: DatumSpec,
    scratch: Path,
    params: dict[str, Any] | None,
    channel: CommandChannel | None,
) -> DatumResult:
    if stop.stopped():
        raise _Killed("stopped by user")
    started = job.started or now()
    if spec.job_timeout is not None and (now() - started).total_seconds() > spec.job_timeout:
        raise _Killed(f"job timed out after {spec.job_timeout:g}s")
    return run_datum(store, spec, d, job.id, scratch, params, channel)


class _Killed(Exception):
    pass


def downstream_of(failed: str, specs: dict[str, PipelineSpec]) -> set[str]:
    """Pipelines that read ``failed``'s output, directly or through other pipelines."""
    from dagster_versioned.pps.inputs import pfs_inputs

    reached: set[str] = set()
    frontier = {failed}
    while frontier:
        frontier = {
            name
            for name, spec in specs.items()
            if name not in reached and any(leaf.repo in frontier for leaf in pfs_inputs(spec.input))
        }
        reached |= frontier
    return reached
