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
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from dagster_versioned.errors import (
    CommitNotFound,
    JobEnded,
    JobFailed,
    RepoNotFound,
    VersionedError,
)
from dagster_versioned.pipelines.batches import (
    PartialResults,
    outputs_stored,
    read_batches,
    succeeded_before,
    write_batch,
)
from dagster_versioned.pipelines.commands import cancel_commands, release_commands
from dagster_versioned.pipelines.datums import DatumSpec
from dagster_versioned.pipelines.jobs import (
    DatumInfo,
    DatumState,
    JobInfo,
    JobState,
    JobStats,
    JobStore,
)
from dagster_versioned.pipelines.leases import hold_lease, job_leases, lease_session
from dagster_versioned.pipelines.plan import (
    JobPlan,
    Unrunnable,
    find_plan,
    load_plan,
    make_plan,
    save_plan,
)
from dagster_versioned.pipelines.spec import PipelineSpec
from dagster_versioned.pipelines.transform import CommandChannel, DatumResult, run_datum
from dagster_versioned.store import Commit, Origin, Store
from dagster_versioned.store.commits import now
from dagster_versioned.store.trees import Entry

log = logging.getLogger("dagster_versioned.pipelines")
_ORDER_WAIT = 600.0
_PROGRESS_EVERY = 0.5


def register_pipeline(jobs: JobStore, spec: PipelineSpec) -> dict[str, Any]:
    """Record the pipeline (name, version, salt); the version grows when the spec changes.

    Like Pachyderm, the salt is kept across updates unless the spec sets a new one, so editing a
    pipeline does not by itself throw away its processed datums — changing the code does.
    """
    old = jobs.load_pipeline(spec.name)
    fingerprint = {
        "transform": spec.transform_hash,
        "input": spec.input.to_spec(),
        "output_branch": spec.output_branch,
        "salt": spec.salt,
    }
    if old is not None and old.get("fingerprint") == fingerprint:
        return old
    salt = spec.salt or (old["salt"] if old else secrets.token_hex(16))
    record = {
        "name": spec.name,
        "version": (old["version"] + 1) if old else 1,
        "salt": salt,
        "fingerprint": fingerprint,
        "description": spec.description,
        "input": spec.input.to_spec(),
        "output_branch": spec.output_branch,
        "transform": spec.transform_json(),
        "created": old["created"] if old else now().isoformat(),
        "updated": now().isoformat(),
    }
    jobs.save_pipeline(record)
    return record


def ensure_output_repo(store: Store, spec: PipelineSpec) -> None:
    with contextlib.suppress(VersionedError):
        store.create_repo(spec.name, description=f"Output repo for pipeline {spec.name}.")


def create_job(store: Store, spec: PipelineSpec, job_id: str, run_id: str | None = None) -> JobInfo:
    """Record job ``<pipeline>@<id>`` as CREATED (idempotent: an existing record is returned)."""
    jobs = JobStore(store)
    record = register_pipeline(jobs, spec)
    job = JobInfo(
        pipeline=spec.name,
        id=job_id,
        pipeline_version=record["version"],
        output_branch=spec.output_branch,
        created=now(),
        details=spec.details(record["salt"]),
        dagster_run_id=run_id,
    )
    if jobs.create_job(job):
        return job
    return jobs.load_job(spec.name, job_id)


def run_job(
    store: Store,
    spec: PipelineSpec,
    job_id: str,
    *,
    run_id: str | None = None,
    pinned: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
    on_progress: Callable[[JobInfo], None] | None = None,
    channel: CommandChannel | None = None,
) -> JobInfo:
    """Run the job to its end in this process and return its record.

    Raises ``JobFailed`` unless it ends in SUCCESS. ``pinned`` maps ``repo`` → commit id for
    inputs that must be read at a given commit (the commit a sensor saw), not the branch head.
    ``channel`` carries a ``transform.cmd``'s output (Dagster Pipes inside a Dagster step).
    """
    with lease_session():  # one worker lease from plan to output commit, no gap between
        job = start_job(store, spec, job_id, run_id=run_id, pinned=pinned, on_progress=on_progress)
        if job.state == JobState.SUCCESS:
            return job
        live = {"job": job}

        progress = _Progress(JobStore(store), on_progress)

        def count(result: DatumResult) -> None:
            live["job"] = progress.count(live["job"], result)

        process_batch(store, spec, job_id, 0, 1, params=params, on_result=count, channel=channel)
        progress.flush(live["job"])
        return finish_job(store, spec, job_id, on_progress=on_progress)


def start_job(
    store: Store,
    spec: PipelineSpec,
    job_id: str,
    *,
    run_id: str | None = None,
    pinned: dict[str, str] | None = None,
    on_progress: Callable[[JobInfo], None] | None = None,
) -> JobInfo:
    """CREATED → STARTING → RUNNING: wait for earlier jobs, plan, and record the plan.

    A job that already succeeded (its output commit exists) is returned as it is, so running
    the same global job twice is harmless; one that failed is restarted (``restart`` + 1), and
    so is one a lost worker left mid-way. A restart keeps the datums an earlier incarnation
    finished (same hash, outputs still stored): they are not processed again.
    """
    jobs = JobStore(store)
    ensure_output_repo(store, spec)
    job = create_job(store, spec, job_id, run_id)
    succeeded = _output_exists(store, spec.name, job_id)

    def take_on(current: JobInfo) -> JobInfo | None:
        if current.state == JobState.SUCCESS and succeeded:
            return None
        if current.state.terminal or (
            current.state != JobState.CREATED and current.dagster_run_id not in (None, run_id)
        ):  # it ended, or another run left it mid-way (its worker was lost): restart it
            current = _restarted(current)
        return replace(current, dagster_run_id=run_id or current.dagster_run_id).with_state(
            JobState.STARTING
        )

    job = jobs.restart_job(job, take_on)
    if job.state == JobState.SUCCESS:
        return job
    _notify(on_progress, job)
    with job_guard(store, spec, job, on_progress, step="plan"):
        _wait_for_earlier_jobs(jobs, job)
        plan = make_plan(store, spec, job, pinned or {}, _finished_before(store, spec, job_id))
        # The plan (holding the datums kept from earlier incarnations) is saved before their
        # batch files go, so a kill between the two loses none of them.
        save_plan(store, spec.name, job_id, plan)
        store.backend.delete_tree(f"jobs/{spec.name}/{job_id}/batches")
        return _save(
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


def _finished_before(store: Store, spec: PipelineSpec, job_id: str) -> dict[str, DatumInfo]:
    """Datums that succeeded in earlier incarnations of the job: in their batch files, or
    kept by the last plan from the one before; only those whose outputs are still stored."""
    earlier = find_plan(store, spec.name, job_id)
    found = {d.id: d for d in earlier.finished} if earlier is not None else {}
    found.update(succeeded_before(store, spec.name, job_id))
    return {d.id: d for d in outputs_stored(store, found.values())}


def _restarted(job: JobInfo) -> JobInfo:
    """The job's next incarnation: ``restart`` + 1, counts and outcome cleared."""
    return replace(
        job,
        restart=job.restart + 1,
        reason="",
        started=None,
        finished=None,
        data_processed=0,
        data_skipped=0,
        data_failed=0,
        data_recovered=0,
        data_total=0,
        stats=JobStats(),
        output_commit=None,
    )


def process_batch(
    store: Store,
    spec: PipelineSpec,
    job_id: str,
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
        partial = PartialResults(store.backend, spec.name, job_id, job.restart, index)
        pool = ThreadPoolExecutor(spec.parallelism, thread_name_prefix=f"dv-{spec.name}")

        def one(item: tuple[DatumSpec, str]) -> tuple[DatumResult, DatumInfo]:
            result = _run_one(store, jobs, spec, job, item[0], scratch, params, channel)
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
        write_batch(store.backend, spec.name, job_id, job.restart, index, infos)
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
    job_id: str,
    *,
    on_progress: Callable[[JobInfo], None] | None = None,
) -> JobInfo:
    """Collect every batch, then write the output commit, egress, and end the job."""
    jobs = JobStore(store)
    plan = load_plan(store, spec.name, job_id)
    job = jobs.load_job(spec.name, job_id)
    with job_guard(store, spec, job, on_progress, step="finish"):
        by_id = {d.id: d for d in (*plan.skipped, *plan.finished)}
        by_id.update((i.id, i) for i in read_batches(store.backend, spec.name, job_id, job.restart))
        missing = [d for d in plan.order if d not in by_id]
        if missing:
            raise _Killed(f"{len(missing)} datums were never processed (first: {missing[0]})")
        infos = [by_id[d] for d in plan.order]
        jobs.save_datums(spec.name, job_id, infos)
        failed = next((i for i in infos if i.state == DatumState.FAILED), None)
        if failed is not None:
            reason = f"datum {failed.id} failed after {failed.tries} tries: {failed.reason}"
            ended = _save(
                jobs,
                job,
                lambda cur: _totals(cur, infos).with_state(JobState.FAILURE, reason),
                on_progress,
            )
            raise JobFailed(ended)
        # FINISHING is claimed before the output commit is written: a job that another
        # process ended meanwhile (a sensor's KILLED) gets no output commit.
        job = _save(
            jobs, job, lambda cur: _totals(cur, infos).with_state(JobState.FINISHING), on_progress
        )
        commit = _write_output(store, spec, job, infos, plan)
        if spec.egress:
            job = _save(
                jobs,
                job,
                lambda cur: replace(cur, output_commit=commit.id).with_state(JobState.EGRESSING),
                on_progress,
            )
            egress(store, commit, spec.egress)
        return _save(
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
            store.backend,
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
    except (_Killed, _OutputCollision, Unrunnable) as e:
        state = {
            _Killed: JobState.KILLED,
            _OutputCollision: JobState.FAILURE,
            Unrunnable: JobState.UNRUNNABLE,
        }[type(e)]
        ended = _end(store, pipeline, job.id, state, str(e), on_progress, restart=job.restart)
        raise JobFailed(ended) from e
    except BaseException as e:
        internal = isinstance(e, Exception)
        reason = (
            f"{type(e).__name__}: {e}"
            if internal
            else f"run terminated ({type(e).__name__}): the Dagster run was stopped mid-job"
        )
        state = JobState.FAILURE if internal else JobState.KILLED
        _end(store, pipeline, job.id, state, reason, on_progress, restart=job.restart)
        raise


def _end(
    store: Store,
    pipeline: str,
    job_id: str,
    state: JobState,
    reason: str,
    cb: Callable[[JobInfo], None] | None,
    *,
    run_id: str | None = None,
    restart: int | None = None,
) -> JobInfo:
    """End the job in ``state`` unless it has ended already (then it is left as it is).

    A job whose output commit landed records it; one stopped in FINISHING after that (only
    its last write was missing) did succeed and ends SUCCESS, so no job record disowns a
    whole output commit. ``run_id`` ends it only if that run still owns it, ``restart`` only
    if it is still that incarnation (a newer run may have taken it on).
    """
    jobs = JobStore(store)
    landed = _output_exists(store, pipeline, job_id)

    def change(cur: JobInfo) -> JobInfo | None:
        if run_id is not None and cur.dagster_run_id not in (None, run_id):
            return None
        if restart is not None and cur.restart != restart:
            return None
        if not landed:
            return cur.with_state(state, reason)
        done = replace(cur, output_commit=job_id)
        if cur.state == JobState.FINISHING:
            return done.with_state(JobState.SUCCESS)
        return done.with_state(state, reason)

    job = jobs.load_job(pipeline, job_id)
    with contextlib.suppress(JobEnded):
        job = _save(jobs, job, change, cb)
    return job


def _save(
    jobs: JobStore,
    job: JobInfo,
    change: Callable[[JobInfo], JobInfo | None],
    cb: Callable[[JobInfo], None] | None,
) -> JobInfo:
    """Apply ``change`` to the stored record of ``job`` (compare-and-swap) and report it."""
    job = jobs.update_job(job, change)
    _notify(cb, job)
    return job


def _notify(cb: Callable[[JobInfo], None] | None, job: JobInfo) -> None:
    if cb is not None:
        cb(job)


class _Progress:
    """Datum counts written as datums end, at most every ``_PROGRESS_EVERY`` seconds.

    Every write is a new revision of the job record, so a 10,000-datum job would otherwise
    leave 10,000 revisions; ``list job`` and the UI need progress, not every step of it. The
    final counts come from the datum records at the end of the job in any case.
    """

    def __init__(self, jobs: JobStore, cb: Callable[[JobInfo], None] | None) -> None:
        self.jobs = jobs
        self.cb = cb
        self.pending: list[DatumResult] = []
        self.last = time.monotonic()

    def count(self, job: JobInfo, result: DatumResult) -> JobInfo:
        self.pending.append(result)
        if time.monotonic() - self.last < _PROGRESS_EVERY:
            return job
        return self.flush(job)

    def flush(self, job: JobInfo) -> JobInfo:
        if not self.pending:
            return job
        results, self.pending = self.pending, []
        self.last = time.monotonic()

        def change(cur: JobInfo) -> JobInfo:
            for result in results:
                cur = _count(cur, result)
            return cur

        return _save(self.jobs, job, change, self.cb)


def _output_exists(store: Store, pipeline: str, job_id: str) -> bool:
    try:
        store.inspect_commit(f"{pipeline}@{job_id}")
    except (CommitNotFound, RepoNotFound):
        return False
    return True


def _wait_for_earlier_jobs(jobs: JobStore, job: JobInfo) -> None:
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


def _run_one(
    store: Store,
    jobs: JobStore,
    spec: PipelineSpec,
    job: JobInfo,
    d: DatumSpec,
    scratch: Path,
    params: dict[str, Any] | None,
    channel: CommandChannel | None,
) -> DatumResult:
    if jobs.stop_requested(spec.name, job.id):
        raise _Killed("stopped by user")
    started = job.started or now()
    if spec.job_timeout is not None and (now() - started).total_seconds() > spec.job_timeout:
        raise _Killed(f"job timed out after {spec.job_timeout:g}s")
    return run_datum(store, spec, d, job.id, scratch, params, channel)


class _Killed(Exception):
    pass


def _count(job: JobInfo, result: DatumResult) -> JobInfo:
    stats = job.stats + result.stats
    if result.state == DatumState.SUCCESS:
        return replace(job, data_processed=job.data_processed + 1, stats=stats)
    if result.state == DatumState.RECOVERED:
        return replace(job, data_recovered=job.data_recovered + 1, stats=stats)
    return replace(job, data_failed=job.data_failed + 1, stats=stats)


def _totals(job: JobInfo, infos: list[DatumInfo]) -> JobInfo:
    """Counters and stats recomputed from the datums (batches may have run anywhere)."""
    states = [i.state for i in infos]
    stats = JobStats()
    for i in infos:
        if i.state != DatumState.SKIPPED:
            stats = stats + i.stats
    return replace(
        job,
        data_total=len(infos),
        data_skipped=states.count(DatumState.SKIPPED),
        data_processed=states.count(DatumState.SUCCESS),
        data_failed=states.count(DatumState.FAILED),
        data_recovered=states.count(DatumState.RECOVERED),
        stats=stats,
    )


def _assemble(infos: list[DatumInfo]) -> dict[str, Entry]:
    """Every datum's outputs; two datums writing one path is an error naming both."""
    owner: dict[str, str] = {}
    outputs: dict[str, Entry] = {}
    for info in infos:
        for path, raw in info.outputs.items():
            if path in owner:
                raise _OutputCollision(path, owner[path], info.id)
            owner[path] = info.id
            outputs[path] = Entry.from_json(raw)
    return outputs


class _OutputCollision(VersionedError):
    def __init__(self, path: str, first: str, second: str) -> None:
        super().__init__(
            f"datums {first} and {second} both wrote output file '{path}'; "
            "each output path must come from one datum"
        )


def _write_output(
    store: Store, spec: PipelineSpec, job: JobInfo, infos: list[DatumInfo], plan: JobPlan
) -> Commit:
    """Output commit ``<pipeline>@<id>``: the previous output, minus the outputs of datums that
    vanished or were reprocessed, plus the new outputs — O(changed datums), not O(all)."""
    outputs = _assemble(infos)
    fresh = {p: outputs[p] for i in infos if i.state == DatumState.SUCCESS for p in i.outputs}
    with store.commit(
        f"{spec.name}@{spec.output_branch}",
        commit_id=job.id,
        provenance=plan.inputs,
        origin=Origin.AUTO,
        description=f"job {spec.name}@{job.id}",
    ) as c:
        for path in plan.stale:
            if path not in outputs:
                c.delete_file(path)
        for path, entry in fresh.items():
            c.put_entry(path, entry)
    return store.inspect_commit(f"{spec.name}@{job.id}")


def egress(store: Store, commit: Commit, url: str) -> None:
    """Copy every file of the output commit to an fsspec URL (Pachyderm's egress)."""
    import fsspec

    fs, root = fsspec.core.url_to_fs(url)
    for info in store.walk_file(f"{commit.repo}@{commit.id}"):
        if info.type != "file":
            continue
        dest = f"{root.rstrip('/')}{info.path}"
        fs.makedirs(dest.rsplit("/", 1)[0], exist_ok=True)
        with (
            store.open_file(f"{commit.repo}@{commit.id}:{info.path}") as src,
            fs.open(dest, "wb") as out,
        ):
            shutil.copyfileobj(src, out, 1 << 20)


def end_orphaned_jobs(
    store: Store, job_id: str, run_id: str, state: JobState, reason: str
) -> list[JobInfo]:
    """End the jobs of a run that will never run them (CREATED or mid-way when the run ended).

    Dagster skips the steps downstream of a failed one, and a canceled or crashed run stops
    them all: their job records would otherwise stay CREATED (or RUNNING) for ever. A job
    whose worker was lost (its lease names a dead process: a step killed outright, which
    fails the run) ends FAILURE naming the worker, as ``lost.end_lost_workers`` would; one
    that a live worker still holds (a step process that outlived its run worker) is left to
    that worker, which ends it itself or, killed too, leaves a lost lease.
    """
    ended = []
    for job in JobStore(store).list_job_set(job_id):
        if job.state.terminal or (job.dagster_run_id and job.dagster_run_id != run_id):
            continue
        leases = (
            job_leases(store.backend, job.pipeline, job.id, restart=job.restart)
            if job.state != JobState.CREATED
            else []
        )
        if any(not w.lost() for w in leases):
            continue
        lost = leases[0] if leases else None
        after = _end(
            store,
            job.pipeline,
            job.id,
            JobState.FAILURE if lost else state,
            lost.lost_reason() if lost else reason,
            None,
            run_id=run_id,
            restart=lost.restart if lost else None,
        )
        if after.state.terminal:
            ended.append(after)
    return ended


def downstream_of(failed: str, specs: dict[str, PipelineSpec]) -> set[str]:
    """Pipelines that read ``failed``'s output, directly or through other pipelines."""
    from dagster_versioned.pipelines.inputs import pfs_inputs

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
