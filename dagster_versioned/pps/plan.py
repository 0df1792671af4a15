"""A job's plan: which input commits it reads, which datums it must process, which it skips.

The plan is written to the store (``jobs/<pipeline>/<id>/plan.json``) before any datum runs, so
the work can be spread over processes or machines — Dagster dynamic outputs hand each worker a
batch number, and the worker reads its share of the plan from the store — and so the finishing
step, wherever it runs, knows exactly what the job decided.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from dagster_versioned.errors import CommitNotFound, JobNotFound, Unrunnable, VersionedError
from dagster_versioned.pps.datums import DatumSpec, compute_datums
from dagster_versioned.pps.ids import DatumId, JobId
from dagster_versioned.pps.inputs import PfsInput, pfs_inputs
from dagster_versioned.pps.jobs import DatumInfo, DatumState, JobInfo, JobState, JobStore
from dagster_versioned.pps.reprocess import ALL, REUSABLE, Reprocess, source_datums
from dagster_versioned.pps.spec import PipelineSpec
from dagster_versioned.store import Commit, CommitRef, Store, layout


@dataclass(frozen=True, slots=True, kw_only=True)
class JobPlan:
    """What a job will do, decided once before any datum runs."""

    inputs: tuple[CommitRef, ...]
    todo: tuple[tuple[DatumSpec, str], ...]
    """Datums to process, with their hashes."""
    skipped: tuple[DatumInfo, ...]
    """Datums that succeeded before with the same hash: their outputs are reused."""
    stale: tuple[str, ...]
    """Output paths of the previous job that no kept datum owns any more."""
    order: tuple[DatumId, ...]
    """Every datum id, in the job's order."""
    finished: tuple[DatumInfo, ...] = ()
    """Datums an earlier incarnation of this job processed (SUCCESS, same hash) before it was
    lost or ended: kept as they are, not processed again, and counted as processed."""
    adopted: tuple[DatumId, ...] = ()
    """Skipped datums taken from the job a rerun reruns, not from the output head: their
    outputs are not in the previous output commit, so the output commit puts them."""
    recovered: tuple[DatumId, ...] = ()
    """Datums that failed in the job a rerun reruns and are processed again: each that
    succeeds counts as recovered (``data_recovered``), not processed."""
    reprocess: Reprocess = field(default_factory=Reprocess)
    """What the job was asked to process again (recorded for ``inspect``: why it ran)."""

    def batch(self, index: int, count: int) -> list[tuple[DatumSpec, str]]:
        """The ``index``-th of ``count`` near-equal contiguous slices of the work."""
        n = len(self.todo)
        start, end = index * n // count, (index + 1) * n // count
        return list(self.todo[start:end])

    def to_json(self) -> dict[str, Any]:
        return {
            "inputs": [c.to_json() for c in self.inputs],
            "todo": [[d.to_json(), h] for d, h in self.todo],
            "skipped": [d.to_json() for d in self.skipped],
            "stale": list(self.stale),
            "order": list(self.order),
            "finished": [d.to_json() for d in self.finished],
            "adopted": list(self.adopted),
            "recovered": list(self.recovered),
            "reprocess": self.reprocess.to_json(),
        }

    @staticmethod
    def from_json(raw: dict[str, Any]) -> JobPlan:
        return JobPlan(
            inputs=tuple(CommitRef.from_json(c) for c in raw["inputs"]),
            todo=tuple((DatumSpec.from_json(d), h) for d, h in raw["todo"]),
            skipped=tuple(DatumInfo.from_json(d) for d in raw["skipped"]),
            stale=tuple(raw["stale"]),
            order=tuple(DatumId(d) for d in raw["order"]),
            finished=tuple(DatumInfo.from_json(d) for d in raw.get("finished", [])),
            adopted=tuple(DatumId(d) for d in raw.get("adopted", [])),
            recovered=tuple(DatumId(d) for d in raw.get("recovered", [])),
            reprocess=Reprocess.from_json(raw.get("reprocess") or {}),
        )


# The last plans this process saved: a job run in one process reads its plan back without
# decoding it again (a 10,000-datum plan is ~0.25 s of JSON); other processes read the store.
_RECENT: dict[tuple[str, str, JobId], JobPlan] = {}


def save_plan(store: Store, pipeline: str, job_id: JobId, plan: JobPlan) -> None:
    data = json.dumps(plan.to_json(), separators=(",", ":")).encode()  # hashed by nothing
    store.records.put(layout.job_plan(pipeline, job_id), data)
    if len(_RECENT) > 8:
        _RECENT.clear()
    _RECENT[(store.url, pipeline, job_id)] = plan


def load_plan(store: Store, pipeline: str, job_id: JobId) -> JobPlan:
    """The job's plan; ``JobNotFound`` if it was never planned (no ``start_job`` ran)."""
    plan = find_plan(store, pipeline, job_id)
    if plan is None:
        raise JobNotFound(
            f"job {pipeline}@{job_id} has no plan: it was never started (start_job plans it)"
        )
    return plan


def find_plan(store: Store, pipeline: str, job_id: JobId) -> JobPlan | None:
    """The job's plan, ``None`` if it was never planned."""
    cached = _RECENT.get((store.url, pipeline, job_id))
    if cached is not None:
        return cached
    raw = store.records.read_json(layout.job_plan(pipeline, job_id))
    return None if raw is None else JobPlan.from_json(raw)


def make_plan(
    store: Store,
    spec: PipelineSpec,
    job: JobInfo,
    pinned: dict[str, str],
    finished: Mapping[DatumId, DatumInfo] | None = None,
    reprocess: Reprocess | None = None,
) -> JobPlan:
    """Resolve input commits, compute datums and decide which to skip.

    A datum is skipped when its hash succeeded in the job that made the output head, or in
    the job ``reprocess.source`` names (a rerun: then its outputs are *adopted*), unless the
    pipeline reprocesses every job or ``reprocess`` asks for it again. ``finished`` holds
    datums that succeeded in an earlier incarnation of this job (by id): one whose hash is the
    datum's hash now is kept rather than processed again.
    """
    request = reprocess or Reprocess()
    commits = resolve_inputs(store, spec, job.id, pinned)
    inputs = tuple(
        CommitRef(repo=c.repo, branch=b, id=c.id) for (_, b), c in sorted(commits.items())
    )
    datums = compute_datums(store, spec.input, lambda leaf: commits[(leaf.repo, leaf.branch)])
    head = head_job(store, spec)
    forced = request.selected(datums, spec.name, job.id, head)
    previous = previous_datums(store, spec, head)
    source = source_datums(store, spec.name, request.source)
    every = spec.reprocess_spec == "every_job" or request.mode == ALL
    salt = str(job.details.get("salt", ""))
    transform = spec.transform_hash
    todo: list[tuple[DatumSpec, str]] = []
    skipped: list[DatumInfo] = []
    adopted: list[DatumId] = []
    kept_finished: list[DatumInfo] = []
    finished = finished or {}
    for d in datums:
        h = d.hash(salt, transform)
        if not every and d.id not in forced:
            prev = _reusable(previous.get(d.id), h)
            if prev is None and (prev := _reusable(source.reusable.get(d.id), h)) is not None:
                adopted.append(d.id)
            if prev is not None:
                # Built directly, not with dataclasses.replace: this runs per unchanged datum.
                # No stats: a skipped datum did no work in this job (``list datum``: "-").
                skipped.append(
                    DatumInfo(
                        id=prev.id,
                        hash=prev.hash,
                        state=DatumState.SKIPPED,
                        files=tuple([i.ref for i in d.inputs]),
                        outputs=prev.outputs,
                        reason=prev.reason,
                    )
                )
                continue
        if (done := finished.get(d.id)) and done.hash == h and done.state == DatumState.SUCCESS:
            kept_finished.append(replace(done, files=tuple([i.ref for i in d.inputs])))
        else:
            todo.append((d, h))
    kept = {d.id for d in skipped} - set(adopted)  # what the output head already holds
    stale = sorted({p for d in previous.values() if d.id not in kept for p in d.outputs})
    skipped_ids = {d.id for d in skipped}
    return JobPlan(
        inputs=inputs,
        todo=tuple(todo),
        skipped=tuple(skipped),
        stale=tuple(stale),
        order=tuple(d.id for d in datums),
        finished=tuple(kept_finished),
        adopted=tuple(adopted),
        recovered=tuple(d.id for d in datums if d.id in source.failed and d.id not in skipped_ids),
        reprocess=request,
    )


def _reusable(prev: DatumInfo | None, h: str) -> DatumInfo | None:
    """``prev`` if its outputs can stand for a datum of hash ``h``: same hash, and it
    succeeded (or was skipped, its outputs coming from an earlier job)."""
    return prev if prev is not None and prev.hash == h and prev.state in REUSABLE else None


def resolve_inputs(
    store: Store, spec: PipelineSpec, job_id: JobId, pinned: dict[str, str]
) -> dict[tuple[str, str], Commit]:
    """The commit each repo input reads; ``Unrunnable`` if an upstream job of this id failed."""
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
    if failed:
        raise Unrunnable(sorted(set(failed)), pipeline=spec.name, job_id=job_id)
    return commits


def _input_commit(store: Store, leaf: PfsInput, job_id: JobId, pinned: dict[str, str]) -> Commit:
    if leaf.commit:
        return store.inspect_commit(f"{leaf.repo}@{leaf.commit}")
    if leaf.repo in pinned:
        return store.inspect_commit(f"{leaf.repo}@{pinned[leaf.repo]}")
    with contextlib.suppress(CommitNotFound):
        return store.inspect_commit(f"{leaf.repo}@{job_id}")
    return store.inspect_commit(f"{leaf.repo}@{leaf.branch}")


def head_job(store: Store, spec: PipelineSpec) -> JobId | None:
    """The job that made the output branch's head (its commit id), ``None`` before any."""
    try:
        return JobId(store.inspect_commit(f"{spec.name}@{spec.output_branch}").id)
    except VersionedError:
        return None


def previous_datums(
    store: Store, spec: PipelineSpec, head: JobId | None = None
) -> dict[DatumId, DatumInfo]:
    """Datums of the job that made the output branch's head: what this job compares against."""
    head = head or head_job(store, spec)
    if head is None:
        return {}
    datums = JobStore(store).load_datums(spec.name, head, stats=False)
    return {d.id: d for d in datums}
