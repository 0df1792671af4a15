"""Which datums a job processes although they succeeded before: the failed ones, all, or named.

A job skips a datum whose hash succeeded before (``plan.make_plan``). A ``Reprocess`` request
changes that for one job: ``failed`` is the ordinary rule (every succeeded datum is skipped, so
only failed, new and changed datums run), ``all`` processes every datum again (Pachyderm's
``reprocess_spec: every_job`` for one job), and a list of names processes those datums even if
they succeeded and skips the other succeeded ones.

A request can also name the job it reruns (``source``): the new job — its own global id, its
own output commit — reads that job's input commits, reuses the datums that succeeded in it
(their outputs are stored even though a failed job made no output commit) and counts a datum
that failed there and succeeds now as *recovered*. That is ``dvctl restart datum P@JOB`` and the
launchpad's ``job:`` field; pachyderm #2630 and #4195 ask for it.

A datum is named by its id (``dvctl list datum`` prints it) or by the path of one of its input
files (``/a.png``), as pachctl's ``restart datum`` filters by path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dagster_versioned.errors import VersionedError
from dagster_versioned.pps.batches import outputs_stored, succeeded_before
from dagster_versioned.pps.datums import DatumSpec
from dagster_versioned.pps.ids import DatumId, JobId
from dagster_versioned.pps.jobs import DatumInfo, DatumState, JobStore
from dagster_versioned.store import Store

FAILED = "failed"
"""Rerun what did not succeed: succeeded datums are skipped by hash (the default)."""
ALL = "all"
"""Process every datum again."""
NAMED = "named"
"""Process the named datums again, skip the other succeeded ones."""

REUSABLE = (DatumState.SUCCESS, DatumState.SKIPPED)
"""A datum that was processed, or skipped because an earlier job had: its outputs are stored."""


class InvalidReprocess(VersionedError, ValueError):
    """A ``reprocess`` value that is neither ``failed``, ``all`` nor a list of datum names."""


class UnknownDatum(VersionedError, LookupError):
    """A datum name that names no datum of the job."""

    def __init__(
        self, names: Sequence[str], pipeline: str, job_id: JobId, listed: JobId | None = None
    ) -> None:
        self.names = tuple(names)
        self.pipeline = pipeline
        self.job_id = job_id
        quoted = ", ".join(f"'{n}'" for n in names)
        noun = "is not a datum" if len(names) == 1 else "are not datums"
        where = f"{pipeline}@{listed or job_id}"
        super().__init__(
            f"{quoted} {noun} of job {pipeline}@{job_id}: name a datum by its id or an input "
            f"path; list them with `dvctl list datum {where}`"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Reprocess:
    """Which datums one job processes again, and which job (if any) it reruns.

    Example::

        Reprocess.parse("failed", source=failed_job_id)   # dvctl restart datum P@J --failed
        Reprocess.parse(["/b.png"])                        # process /b.png's datum again
    """

    mode: str = FAILED
    """``failed``, ``all`` or ``named``."""
    names: tuple[str, ...] = ()
    """With ``named``: datum ids or input paths."""
    source: JobId | None = None
    """The job this one reruns: its input commits are read, its succeeded datums reused."""

    @staticmethod
    def parse(value: Any, *, source: str | None = None) -> Reprocess:
        """From run config or a CLI: ``"failed"``, ``"all"`` or a list of datum names."""
        job = JobId(source) if source else None
        if value is None or value == FAILED:
            return Reprocess(source=job)
        if value == ALL:
            return Reprocess(mode=ALL, source=job)
        if isinstance(value, str) and value and value not in (FAILED, ALL):
            value = [n for n in value.split(",") if n]  # pachctl's "a,b" form
        if isinstance(value, list | tuple) and value and all(isinstance(n, str) for n in value):
            names = tuple(dict.fromkeys(n.strip() for n in value if n.strip()))
            if names:
                return Reprocess(mode=NAMED, names=names, source=job)
        raise InvalidReprocess(
            f"reprocess must be 'failed', 'all' or a list of datum ids, got {value!r}"
        )

    def selected(
        self,
        datums: Iterable[DatumSpec],
        pipeline: str,
        job_id: JobId,
        listed: JobId | None = None,
    ) -> frozenset[DatumId]:
        """Ids of the named datums of job ``job_id``; ``UnknownDatum`` names every name that
        matches none, and says to list the datums of ``listed`` (a job that has them)."""
        if self.mode != NAMED:
            return frozenset()
        found: set[DatumId] = set()
        matched: set[str] = set()
        wanted = set(self.names)
        for d in datums:
            keys = {d.id, *(i.path for i in d.inputs)} & wanted
            if keys:
                found.add(d.id)
                matched |= keys
        missing = [n for n in self.names if n not in matched]
        if missing:
            raise UnknownDatum(missing, pipeline, job_id, self.source or listed)
        return frozenset(found)

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "names": list(self.names), "source": self.source}

    @staticmethod
    def from_json(raw: Mapping[str, Any]) -> Reprocess:
        source = raw.get("source")
        return Reprocess(
            mode=str(raw.get("mode", FAILED)),
            names=tuple(raw.get("names", ())),
            source=JobId(source) if source else None,
        )


def check_names(
    names: Sequence[str], infos: Iterable[DatumInfo], pipeline: str, job: JobId
) -> None:
    """``UnknownDatum`` unless each name is the id or an input path of one of ``infos``
    (the recorded datums of job ``pipeline@job``): checked before a rerun starts anything."""
    keys: set[str] = set()
    for d in infos:
        keys.add(d.id)
        keys.update(ref.partition(":")[2] for ref in d.files)
    missing = [n for n in names if n not in keys]
    if missing:
        raise UnknownDatum(missing, pipeline, job)


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceDatums:
    """What the rerun job left: the datums it can hand on, and the ids of those that failed."""

    reusable: Mapping[DatumId, DatumInfo]
    """Succeeded (or skipped) datums whose output objects are still stored."""
    failed: frozenset[DatumId]


NO_SOURCE = SourceDatums(reusable={}, failed=frozenset())


def source_datums(store: Store, pipeline: str, job_id: JobId | None) -> SourceDatums:
    """The datums of the job a rerun reruns: its datum records if it got to its end, and the
    batch files of its incarnations if it was killed before (those record successes only).

    A failed job made no output commit, so nothing references its datums' outputs: ``gc`` may
    have taken them. A datum whose objects are gone is not reusable and is processed again.
    """
    if job_id is None:
        return NO_SOURCE
    recorded = JobStore(store).load_datums(pipeline, job_id, stats=False)
    found = dict(succeeded_before(store, pipeline, job_id))
    found.update((d.id, d) for d in recorded if d.state in REUSABLE)
    failed = frozenset(d.id for d in recorded if d.state == DatumState.FAILED) - found.keys()
    kept = outputs_stored(store, found.values())
    return SourceDatums(reusable={d.id: d for d in kept}, failed=failed)
