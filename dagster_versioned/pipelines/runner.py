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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from dagster_versioned.errors import CommitNotFound, RepoNotFound, VersionedError
from dagster_versioned.pipelines.datums import DatumSpec, compute_datums
from dagster_versioned.pipelines.inputs import PfsInput, pfs_inputs
from dagster_versioned.pipelines.jobs import (
    DatumInfo,
    DatumState,
    JobInfo,
    JobState,
    JobStats,
    JobStore,
)
from dagster_versioned.pipelines.spec import PipelineSpec
from dagster_versioned.pipelines.transform import DatumResult, run_datum
from dagster_versioned.store import Commit, CommitRef, Origin, Store
from dagster_versioned.store.commits import now
from dagster_versioned.store.trees import Entry

log = logging.getLogger("dagster_versioned.pipelines")
_ORDER_WAIT = 600.0


class JobFailed(VersionedError):
    """The job ended in FAILURE, KILLED or UNRUNNABLE; ``job`` holds its record."""

    def __init__(self, job: JobInfo) -> None:
        self.job = job
        super().__init__(f"job {job.pipeline}@{job.id} {job.state.short}: {job.reason}")


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
) -> JobInfo:
    """Run the job to its end and return its record; raises ``JobFailed`` unless SUCCESS.

    ``pinned`` maps ``repo`` → commit id for inputs that must be read at a given commit (the
    commit a sensor saw), overriding the branch head.
    """
    jobs = JobStore(store)
    ensure_output_repo(store, spec)
    job = create_job(store, spec, job_id, run_id)
    if job.state == JobState.SUCCESS and _output_exists(store, spec, job_id):
        return job
    if job.state.terminal:
        job = replace(
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
    job = _save(
        jobs,
        replace(job, dagster_run_id=run_id or job.dagster_run_id).with_state(JobState.STARTING),
        on_progress,
    )
    try:
        _wait_for_earlier_jobs(jobs, job)
        return _execute(store, jobs, spec, job, pinned or {}, params or {}, on_progress)
    except JobFailed:
        raise
    except (_Killed, _OutputCollision) as e:
        state = JobState.KILLED if isinstance(e, _Killed) else JobState.FAILURE
        ended = jobs.load_job(spec.name, job_id).with_state(state, str(e))
        raise JobFailed(_save(jobs, ended, on_progress)) from e
    except BaseException as e:
        # An internal error is a failure; an interrupt (Dagster terminating the run) a kill.
        internal = isinstance(e, Exception)
        reason = f"{type(e).__name__}: {e}" if internal else "run terminated"
        state = JobState.FAILURE if internal else JobState.KILLED
        _save(jobs, jobs.load_job(spec.name, job_id).with_state(state, reason), on_progress)
        raise


def _save(jobs: JobStore, job: JobInfo, cb: Callable[[JobInfo], None] | None) -> JobInfo:
    jobs.save_job(job)
    if cb is not None:
        cb(job)
    return job


def _output_exists(store: Store, spec: PipelineSpec, job_id: str) -> bool:
    try:
        store.inspect_commit(f"{spec.name}@{job_id}")
    except (CommitNotFound, RepoNotFound):
        return False
    return True


def _wait_for_earlier_jobs(jobs: JobStore, job: JobInfo) -> None:
    """Jobs of one pipeline finish in the order they were created (input-commit order)."""
    deadline = time.monotonic() + _ORDER_WAIT
    while time.monotonic() < deadline:
        earlier = [
            j
            for j in jobs.list_jobs(job.pipeline)
            if j.created < job.created and not j.state.terminal and j.id != job.id
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


def resolve_inputs(
    store: Store, spec: PipelineSpec, job_id: str, pinned: dict[str, str]
) -> tuple[dict[tuple[str, str], Commit], list[str]]:
    """The commit each repo input reads, and the upstream pipelines whose job here failed."""
    commits: dict[tuple[str, str], Commit] = {}
    failed: list[str] = []
    jobs = JobStore(store)
    for leaf in pfs_inputs(spec.input):
        key = (leaf.repo, leaf.branch)
        if key in commits:
            continue
        upstream = jobs.find_job(leaf.repo, job_id)
        if upstream is not None and upstream.state in (
            JobState.FAILURE,
            JobState.KILLED,
            JobState.UNRUNNABLE,
        ):
            failed.append(leaf.repo)
            continue
        commits[key] = _input_commit(store, leaf, job_id, pinned)
    return commits, failed


def _input_commit(store: Store, leaf: PfsInput, job_id: str, pinned: dict[str, str]) -> Commit:
    if leaf.commit:
        return store.inspect_commit(f"{leaf.repo}@{leaf.commit}")
    if leaf.repo in pinned:
        return store.inspect_commit(f"{leaf.repo}@{pinned[leaf.repo]}")
    with contextlib.suppress(CommitNotFound):
        return store.inspect_commit(f"{leaf.repo}@{job_id}")
    return store.inspect_commit(f"{leaf.repo}@{leaf.branch}")


def _execute(
    store: Store,
    jobs: JobStore,
    spec: PipelineSpec,
    job: JobInfo,
    pinned: dict[str, str],
    params: dict[str, Any],
    on_progress: Callable[[JobInfo], None] | None,
) -> JobInfo:
    commits, failed = resolve_inputs(store, spec, job.id, pinned)
    if failed:
        reason = f"unrunnable because the following upstream pipelines failed: {', '.join(failed)}"
        job = _save(jobs, job.with_state(JobState.UNRUNNABLE, reason), on_progress)
        raise JobFailed(job)
    inputs = tuple(
        CommitRef(repo=c.repo, branch=b, id=c.id) for (_, b), c in sorted(commits.items())
    )
    datums = compute_datums(store, spec.input, lambda leaf: commits[(leaf.repo, leaf.branch)])
    salt = job.details.get("salt", "")
    previous = _previous_datums(store, jobs, spec)
    job = _save(
        jobs,
        replace(job.with_state(JobState.RUNNING), input_commits=inputs, data_total=len(datums)),
        on_progress,
    )
    infos, job = _process(store, jobs, spec, job, datums, previous, salt, params, on_progress)
    jobs.save_datums(spec.name, job.id, infos)
    if job.data_failed:
        first = next(i for i in infos if i.state == DatumState.FAILED)
        reason = f"datum {first.id} failed after {first.tries} tries: {first.reason}"
        job = _save(jobs, job.with_state(JobState.FAILURE, reason), on_progress)
        raise JobFailed(job)
    outputs = _assemble(infos)
    commit = _write_output(store, spec, job, infos, previous, outputs, inputs)
    job = replace(job, output_commit=commit.id)
    if spec.egress:
        job = _save(jobs, job.with_state(JobState.EGRESSING), on_progress)
        egress(store, commit, spec.egress)
    job = _save(jobs, job.with_state(JobState.FINISHING), on_progress)
    return _save(jobs, job.with_state(JobState.SUCCESS), on_progress)


def _previous_datums(store: Store, jobs: JobStore, spec: PipelineSpec) -> dict[str, DatumInfo]:
    """Datums of the job that made the output branch's head: what this job compares against."""
    try:
        head = store.inspect_commit(f"{spec.name}@{spec.output_branch}")
    except VersionedError:
        return {}
    return {d.id: d for d in jobs.load_datums(spec.name, head.id)}


def _process(
    store: Store,
    jobs: JobStore,
    spec: PipelineSpec,
    job: JobInfo,
    datums: list[DatumSpec],
    previous: dict[str, DatumInfo],
    salt: str,
    params: dict[str, Any],
    on_progress: Callable[[JobInfo], None] | None,
) -> tuple[list[DatumInfo], JobInfo]:
    transform = spec.transform_hash
    todo: list[tuple[DatumSpec, str]] = []
    infos: dict[str, DatumInfo] = {}
    for d in datums:
        h = d.hash(salt, transform)
        prev = previous.get(d.id)
        reusable = prev is not None and prev.hash == h and prev.state == DatumState.SUCCESS
        if reusable and spec.reprocess_spec != "every_job":
            assert prev is not None
            infos[d.id] = replace(prev, state=DatumState.SKIPPED, files=_files(d), tries=0)
            job = replace(job, data_skipped=job.data_skipped + 1)
        else:
            todo.append((d, h))
    job = _save(jobs, job, on_progress)
    started = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix=f"dv-{spec.name}-"))
    try:
        with ThreadPoolExecutor(spec.parallelism, thread_name_prefix=f"dv-{spec.name}") as pool:
            results = pool.map(
                lambda item: (
                    item,
                    _run_one(store, jobs, spec, job, item[0], scratch, started, params),
                ),
                todo,
            )
            for (d, h), result in results:
                infos[d.id] = DatumInfo(
                    id=d.id,
                    hash=h,
                    state=result.state,
                    files=_files(d),
                    outputs={p: e.to_json() for p, e in result.outputs.items()},
                    stats=result.stats,
                    reason=result.reason,
                    tries=result.tries,
                )
                job = _count(job, result)
                job = _save(jobs, job, on_progress)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return [infos[d.id] for d in datums], job


def _run_one(
    store: Store,
    jobs: JobStore,
    spec: PipelineSpec,
    job: JobInfo,
    d: DatumSpec,
    scratch: Path,
    started: float,
    params: dict[str, Any],
) -> DatumResult:
    if jobs.stop_requested(spec.name, job.id):
        raise _Killed("stopped by user")
    if spec.job_timeout is not None and time.monotonic() - started > spec.job_timeout:
        raise _Killed(f"job timed out after {spec.job_timeout:g}s")
    return run_datum(store, spec, d, job.id, scratch, params)


class _Killed(Exception):
    pass


def _count(job: JobInfo, result: DatumResult) -> JobInfo:
    stats = job.stats + result.stats
    if result.state == DatumState.SUCCESS:
        return replace(job, data_processed=job.data_processed + 1, stats=stats)
    if result.state == DatumState.RECOVERED:
        return replace(job, data_recovered=job.data_recovered + 1, stats=stats)
    return replace(job, data_failed=job.data_failed + 1, stats=stats)


def _files(d: DatumSpec) -> tuple[str, ...]:
    return tuple(i.ref for i in d.inputs)


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
    store: Store,
    spec: PipelineSpec,
    job: JobInfo,
    infos: list[DatumInfo],
    previous: dict[str, DatumInfo],
    outputs: dict[str, Entry],
    inputs: tuple[CommitRef, ...],
) -> Commit:
    """Output commit ``<pipeline>@<id>``: the previous output, minus the outputs of datums that
    vanished or were reprocessed, plus the new outputs — O(changed datums), not O(all)."""
    kept = {i.id for i in infos if i.state == DatumState.SKIPPED}
    fresh = {p: outputs[p] for i in infos if i.state == DatumState.SUCCESS for p in i.outputs}
    stale = {p for d in previous.values() if d.id not in kept for p in d.outputs}
    with store.commit(
        f"{spec.name}@{spec.output_branch}",
        commit_id=job.id,
        provenance=inputs,
        origin=Origin.AUTO,
        description=f"job {spec.name}@{job.id}",
    ) as c:
        for path in sorted(stale - set(outputs)):
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
