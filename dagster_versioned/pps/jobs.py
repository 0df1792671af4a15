"""Job and datum records, kept in the store so ``dvctl`` reads them without Dagster running.

A job is one pipeline's share of a global job: ``<pipeline>@<global id>``. Its record moves
through Pachyderm's states (CREATED → STARTING → RUNNING → EGRESSING → FINISHING → SUCCESS, or
FAILURE / KILLED / UNRUNNABLE) and is written by several processes: the run's step, its fan-out
workers, the run-status sensors and the steps that mark downstream jobs unrunnable. So every
change is a compare-and-swap on the record's revision log (``store/revlog.py``): a change is a
function of the current record, re-applied when another writer got there first, and none is
lost. A terminal state is final: a change to an ended job raises ``JobEnded`` instead of
overwriting it, so a KILLED written by a sensor stays KILLED however slow the killed process
is. Only ``restart`` leaves a terminal state — a new run taking the job on, ``restart`` + 1 —
and the processes of the earlier incarnation are refused from then on.

The datums of a finished job are written once, and are what the next job of the pipeline
compares against to skip unchanged work.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from dagster_versioned.errors import CorruptStore, JobEnded, JobNotFound
from dagster_versioned.pps.ids import DatumId, JobId
from dagster_versioned.store import CommitRef, Store, layout
from dagster_versioned.store.commits import canonical_json, format_time, now, parse_time
from dagster_versioned.store.recordstore import RecordStore
from dagster_versioned.store.revlog import Revision, RevisionLog

JobChange = Callable[["JobInfo"], "JobInfo | None"]
"""A change to a job record: the new record from the current one, or ``None`` to keep it."""


class JobState(StrEnum):
    """Pachyderm's job states (``pps.proto``)."""

    CREATED = "JOB_CREATED"
    STARTING = "JOB_STARTING"
    RUNNING = "JOB_RUNNING"
    FAILURE = "JOB_FAILURE"
    SUCCESS = "JOB_SUCCESS"
    KILLED = "JOB_KILLED"
    EGRESSING = "JOB_EGRESSING"
    FINISHING = "JOB_FINISHING"
    UNRUNNABLE = "JOB_UNRUNNABLE"

    @property
    def terminal(self) -> bool:
        return self in (JobState.FAILURE, JobState.SUCCESS, JobState.KILLED, JobState.UNRUNNABLE)

    @property
    def short(self) -> str:
        """The lower-case word ``list job`` prints (``egressing`` for EGRESSING)."""
        return self.value.removeprefix("JOB_").lower()


class DatumState(StrEnum):
    FAILED = "FAILED"
    SUCCESS = "SUCCESS"
    SKIPPED = "SKIPPED"
    STARTING = "STARTING"
    RECOVERED = "RECOVERED"


_DATUM_STATES = {s.value: s for s in DatumState}
"""A dict lookup, not ``DatumState(value)``: an enum call costs ~10 µs, 0.1 s per 10,000 records."""


def _datum_state(value: str) -> DatumState:
    state = _DATUM_STATES.get(value)
    if state is None:
        raise ValueError(f"{value!r} is not a datum state")
    return state


@dataclass(frozen=True, slots=True, kw_only=True)
class JobStats:
    download_time: float = 0.0
    process_time: float = 0.0
    upload_time: float = 0.0
    download_bytes: int = 0
    upload_bytes: int = 0

    def __add__(self, other: JobStats) -> JobStats:
        return JobStats(
            download_time=self.download_time + other.download_time,
            process_time=self.process_time + other.process_time,
            upload_time=self.upload_time + other.upload_time,
            download_bytes=self.download_bytes + other.download_bytes,
            upload_bytes=self.upload_bytes + other.upload_bytes,
        )


_NO_STATS = JobStats()


@dataclass(frozen=True, slots=True, kw_only=True)
class JobInfo:
    """One pipeline's job in one global job."""

    pipeline: str
    id: JobId
    """The global id: also the output commit's id and the Dagster run's tag."""
    pipeline_version: int = 1
    output_branch: str = "master"
    output_commit: str | None = None
    state: JobState = JobState.CREATED
    reason: str = ""
    restart: int = 0
    data_processed: int = 0
    data_skipped: int = 0
    data_failed: int = 0
    data_recovered: int = 0
    data_total: int = 0
    stats: JobStats = field(default_factory=JobStats)
    created: datetime
    started: datetime | None = None
    finished: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)
    """transform, input, salt, datum_tries, egress, parallelism_spec, timeouts (spec form)."""
    input_commits: tuple[CommitRef, ...] = ()
    dagster_run_id: str | None = None
    revision: int = field(default=-1, compare=False)
    """The stored version this record was read as or written to (its revision log's seq)."""

    def with_state(self, state: JobState, reason: str = "", **changes: Any) -> JobInfo:
        at = now()
        extra: dict[str, Any] = {}
        if state in (JobState.STARTING, JobState.RUNNING) and self.started is None:
            extra["started"] = at
        if state.terminal:
            extra["finished"] = at
            extra.setdefault("started", self.started or at)
        return replace(self, state=state, reason=reason or self.reason, **extra, **changes)

    def to_json(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "id": self.id,
            "pipeline_version": self.pipeline_version,
            "output_branch": self.output_branch,
            "output_commit": self.output_commit,
            "state": self.state.value,
            "reason": self.reason,
            "restart": self.restart,
            "data_processed": self.data_processed,
            "data_skipped": self.data_skipped,
            "data_failed": self.data_failed,
            "data_recovered": self.data_recovered,
            "data_total": self.data_total,
            "stats": {k: getattr(self.stats, k) for k in JobStats.__slots__},
            "created": format_time(self.created),
            "started": format_time(self.started),
            "finished": format_time(self.finished),
            "details": self.details,
            "input_commits": [c.to_json() for c in self.input_commits],
            "dagster_run_id": self.dagster_run_id,
        }

    @staticmethod
    def from_json(raw: dict[str, Any]) -> JobInfo:
        created = parse_time(raw["created"])
        assert created is not None
        return JobInfo(
            pipeline=raw["pipeline"],
            id=JobId(raw["id"]),
            pipeline_version=int(raw.get("pipeline_version", 1)),
            output_branch=raw.get("output_branch", "master"),
            output_commit=raw.get("output_commit"),
            state=JobState(raw["state"]),
            reason=raw.get("reason", ""),
            restart=int(raw.get("restart", 0)),
            data_processed=int(raw.get("data_processed", 0)),
            data_skipped=int(raw.get("data_skipped", 0)),
            data_failed=int(raw.get("data_failed", 0)),
            data_recovered=int(raw.get("data_recovered", 0)),
            data_total=int(raw.get("data_total", 0)),
            stats=JobStats(**raw.get("stats", {})),
            created=created,
            started=parse_time(raw.get("started")),
            finished=parse_time(raw.get("finished")),
            details=dict(raw.get("details") or {}),
            input_commits=tuple(CommitRef.from_json(c) for c in raw.get("input_commits", [])),
            dagster_run_id=raw.get("dagster_run_id"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DatumInfo:
    """One datum of a job: what it read, how it ended, and the outputs it owns."""

    id: DatumId
    hash: str
    state: DatumState
    files: tuple[str, ...] = ()
    """``repo@commit:path`` of each input."""
    outputs: dict[str, list[Any]] = field(default_factory=dict)
    """Output path → tree entry JSON: kept so a skipped datum reuses them by reference."""
    stats: JobStats = field(default_factory=JobStats)
    reason: str = ""
    tries: int = 0

    def to_json(self) -> dict[str, Any]:
        """Defaults (no reason, no tries, zero stats) are left out: a job's datum records are
        one file of 10,000+ entries, mostly skipped datums, written and read on every job."""
        raw: dict[str, Any] = {
            "id": self.id,
            "hash": self.hash,
            "state": self.state.value,
            "files": list(self.files),
            "outputs": self.outputs,
        }
        if self.reason:
            raw["reason"] = self.reason
        if self.tries:
            raw["tries"] = self.tries
        if self.stats != _NO_STATS:
            # Times to the microsecond: a float's 17 digits made the records of a 10,000-datum
            # job a third longer, and the next job reads them all.
            raw["stats"] = {
                k: round(v, 6) if isinstance(v := getattr(self.stats, k), float) else v
                for k in JobStats.__slots__
            }
        return raw

    @staticmethod
    def from_json(raw: dict[str, Any], *, stats: bool = True) -> DatumInfo:
        """``stats=False`` leaves the stats out (the next job's plan needs only outcomes)."""
        return DatumInfo(
            id=DatumId(raw["id"]),
            hash=raw["hash"],
            state=_datum_state(raw["state"]),
            files=tuple(raw.get("files", [])),
            outputs=dict(raw.get("outputs", {})),
            stats=JobStats(**raw["stats"]) if stats and "stats" in raw else _NO_STATS,
            reason=raw.get("reason", ""),
            tries=int(raw.get("tries", 0)),
        )


def _what(job: JobInfo) -> str:
    return f"job {job.pipeline}@{job.id}"


def job_log(records: RecordStore, pipeline: str, job_id: JobId) -> RevisionLog:
    """The revision log of job ``<pipeline>@<job_id>``'s record (what fsck reads too)."""
    return records.log(layout.job_dir(pipeline, job_id), hint=layout.job_hint(pipeline, job_id))


def _decode(found: Revision | None, pipeline: str, job_id: JobId) -> JobInfo:
    if found is None:  # ``update`` returns what it wrote or kept: never nothing once created
        raise JobNotFound(f"job {pipeline}@{job_id} not found")
    try:
        return replace(JobInfo.from_json(found.value), revision=found.seq)
    except (ValueError, KeyError, TypeError, AssertionError) as e:
        raise CorruptStore(f"job record {pipeline}@{job_id} is unreadable: {e}") from e


class JobStore:
    """Job, datum and pipeline records under ``jobs/`` and ``pipelines/`` of a store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.records = store.records

    def _log(self, pipeline: str, job_id: JobId) -> RevisionLog:
        return job_log(self.records, pipeline, job_id)

    def create_job(self, job: JobInfo) -> bool:
        """Create the record unless it exists (the first of racing creators wins)."""
        return self._log(job.pipeline, job.id).create(job.to_json()) is not None

    def load_job(self, pipeline: str, job_id: JobId) -> JobInfo:
        """The newest version of the record (``revision`` says which)."""
        try:
            found = self._log(pipeline, job_id).latest()
        except CorruptStore as e:
            raise CorruptStore(f"job record {pipeline}@{job_id} is unreadable: {e}") from e
        if found is None:
            raise JobNotFound(f"job {pipeline}@{job_id} not found")
        return _decode(found, pipeline, job_id)

    def find_job(self, pipeline: str, job_id: JobId) -> JobInfo | None:
        with contextlib.suppress(JobNotFound):
            return self.load_job(pipeline, job_id)
        return None

    def update_job(self, job: JobInfo, change: JobChange) -> JobInfo:
        """Apply ``change`` to the newest version of ``job``'s record by compare-and-swap.

        ``job`` is the record as this writer last saw it: its incarnation (``restart``) must
        still be the stored one. Raises ``JobEnded`` when the stored job has ended or was
        restarted by another run since; ``change`` (which may run more than once) is then
        not applied.
        """
        log = self._log(job.pipeline, job.id)
        known = Revision(job.revision, job.to_json()) if job.revision >= 0 else None

        def apply(current: Revision | None) -> dict[str, Any] | None:
            stored = self._require(current, job)
            if stored.restart != job.restart:
                raise JobEnded(
                    f"job {job.pipeline}@{job.id} was restarted (restart {stored.restart}) "
                    f"by run {stored.dagster_run_id}; this writer's change is refused",
                    job=stored,
                )
            if stored.state.terminal:
                raise JobEnded(
                    f"job {job.pipeline}@{job.id} already ended in {stored.state.short}"
                    f"{': ' + stored.reason if stored.reason else ''}; it cannot change",
                    job=stored,
                )
            new = change(stored)
            return None if new is None else new.to_json()

        return _decode(log.update(apply, known=known, what=_what(job)), job.pipeline, job.id)

    def restart_job(self, job: JobInfo, change: JobChange) -> JobInfo:
        """Like ``update_job``, but for the one change allowed to leave a terminal state: a
        run taking the job on. ``change`` sees the stored record whatever its state or
        incarnation, and bumps ``restart`` when it restarts it."""
        log = self._log(job.pipeline, job.id)

        def apply(current: Revision | None) -> dict[str, Any] | None:
            new = change(self._require(current, job))
            return None if new is None else new.to_json()

        return _decode(log.update(apply, what=_what(job)), job.pipeline, job.id)

    def _require(self, current: Revision | None, job: JobInfo) -> JobInfo:
        if current is None:
            raise JobNotFound(f"job {job.pipeline}@{job.id} not found")
        return _decode(current, job.pipeline, job.id)

    def pipelines_with_jobs(self) -> list[str]:
        return self.records.list(layout.JOBS)

    def list_jobs(self, pipeline: str | None = None) -> list[JobInfo]:
        """Jobs newest first, of one pipeline or of all."""
        names = [pipeline] if pipeline else self.pipelines_with_jobs()
        # A job's id names its hint (``<id>.json``) and its folder (``<id>/``): either finds
        # it, also when its first writer died between the first revision and the hint.
        found = (
            self.find_job(p, job_id)
            for p in names
            for job_id in sorted(
                {JobId(n.removesuffix(".json")) for n in self.records.list(layout.pipeline_jobs(p))}
            )
        )
        jobs = [j for j in found if j is not None]
        return sorted(jobs, key=lambda j: j.created, reverse=True)

    def list_job_set(self, job_id: JobId) -> list[JobInfo]:
        """Every pipeline's job with this global id."""
        jobs = [j for p in self.pipelines_with_jobs() if (j := self.find_job(p, job_id))]
        return sorted(jobs, key=lambda j: j.created)

    def save_datums(self, pipeline: str, job_id: JobId, datums: list[DatumInfo]) -> None:
        # Not canonical (no key sorting): nothing hashes this file, and sorting the keys of
        # 10,000 records is a third of writing them.
        data = json.dumps([d.to_json() for d in datums], separators=(",", ":")).encode()
        self.records.put(layout.job_datums(pipeline, job_id), data)

    def load_datums(self, pipeline: str, job_id: JobId, *, stats: bool = True) -> list[DatumInfo]:
        data = self.records.read(layout.job_datums(pipeline, job_id))
        if data is None:
            return []
        return [DatumInfo.from_json(d, stats=stats) for d in json.loads(data)]

    def request_stop(self, pipeline: str, job_id: JobId) -> None:
        self.load_job(pipeline, job_id)
        self.records.put(layout.job_stop(pipeline, job_id), now().isoformat().encode())

    def stop_requested(self, pipeline: str, job_id: JobId) -> bool:
        return self.records.exists(layout.job_stop(pipeline, job_id))

    # -- pipelines ---------------------------------------------------------------------------

    def save_pipeline(self, record: dict[str, Any]) -> None:
        self.records.put(layout.pipeline_record(record["name"]), canonical_json(record))

    def load_pipeline(self, name: str) -> dict[str, Any] | None:
        data = self.records.read(layout.pipeline_record(name))
        return None if data is None else dict(json.loads(data))

    def list_pipelines(self) -> list[dict[str, Any]]:
        out = []
        for n in self.records.list(layout.PIPELINES):
            if n.endswith(".json") and (rec := self.load_pipeline(n[:-5])) is not None:
                out.append(rec)
        return sorted(out, key=lambda r: r["name"])
