"""A job's datum results as its batches produce them: what ``finish_job`` collects, and what a
restart keeps.

Files under ``jobs/<pipeline>/<id>/batches/``::

    r<restart>.<index>.json                          a finished batch: every datum's result
    r<restart>.<index>.partial-<token>-<seq>.json    datums that succeeded since the last one

``restart`` is the job's incarnation. ``finish_job`` reads only its own incarnation's batch
files, so a late write from a process of an earlier one (a worker thought lost, still ending a
datum) is never taken for this one's. While a batch runs, the datums that succeed are written in
*segments*, at most every ``PARTIAL_EVERY`` seconds and at most that long after they ended (a
timer writes the last ones, so a datum that ended is on record even if the next takes an hour).
A segment holds only what is new, so a batch writes O(datums) bytes in all and no more than a
couple of small files a second however fast its datums are; when the batch ends, its full file
replaces its segments. A worker killed mid-batch thus leaves its succeeded datums behind, and
the job's next incarnation keeps them (``succeeded_before``) instead of processing them again.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Iterable

from dagster_versioned.errors import VersionedError
from dagster_versioned.pps.ids import DatumId, JobId
from dagster_versioned.pps.jobs import DatumInfo, DatumState
from dagster_versioned.store import Store, layout
from dagster_versioned.store.objects import ObjectId
from dagster_versioned.store.recordstore import RecordStore
from dagster_versioned.store.trees import Entry

PARTIAL_EVERY = 0.5
"""Seconds between two segments of one batch's results."""
log = logging.getLogger("dagster_versioned.pipelines")


def batch_dir(pipeline: str, job_id: JobId) -> str:
    return layout.job_batches(pipeline, job_id)


def _stem(restart: int, index: int) -> str:
    return f"r{restart}.{index:06d}"


def _encode(infos: Iterable[DatumInfo]) -> bytes:
    return json.dumps([i.to_json() for i in infos], separators=(",", ":")).encode()


def write_batch(
    records: RecordStore,
    pipeline: str,
    job_id: JobId,
    restart: int,
    index: int,
    infos: list[DatumInfo],
) -> None:
    """Record batch ``index`` of incarnation ``restart`` as finished, with every result."""
    records.put(f"{batch_dir(pipeline, job_id)}/{_stem(restart, index)}.json", _encode(infos))


def read_batches(
    records: RecordStore, pipeline: str, job_id: JobId, restart: int
) -> list[DatumInfo]:
    """The results of every finished batch of incarnation ``restart`` (segments left out).

    A batch file listed but gone by the time it is read was cleared by a restart of the job
    (``start_job`` deletes the batches of earlier incarnations): it is not this one's.
    """
    folder = batch_dir(pipeline, job_id)
    prefix = f"r{restart}."
    infos: list[DatumInfo] = []
    for name in records.list(folder):
        if name.startswith(prefix) and name.endswith(".json") and ".partial-" not in name:
            raws = records.read_json(f"{folder}/{name}")
            infos.extend(DatumInfo.from_json(raw) for raw in raws or [])
    return infos


def succeeded_before(store: Store, pipeline: str, job_id: JobId) -> dict[DatumId, DatumInfo]:
    """Datums that succeeded in any earlier incarnation of the job, by id, outputs still stored.

    Read from every batch file and segment, whatever its incarnation. A datum whose output
    objects are gone (gc took them: a worker's outputs are referenced by no commit until its
    job's output commit lands) is left out, and so processed again.
    """
    folder = batch_dir(pipeline, job_id)
    found: dict[DatumId, DatumInfo] = {}
    for name in store.records.list(folder):
        if not name.endswith(".json"):
            continue
        data = store.records.read(f"{folder}/{name}")
        try:
            raws = json.loads(data) if data is not None else []
            infos = [DatumInfo.from_json(raw) for raw in raws]
        except (ValueError, KeyError, TypeError) as e:
            log.warning("job %s@%s: unreadable results %s: %s", pipeline, job_id, name, e)
            continue
        found.update((i.id, i) for i in infos if i.state == DatumState.SUCCESS)
    return found


def outputs_stored(store: Store, infos: Iterable[DatumInfo]) -> list[DatumInfo]:
    """The datums all of whose output objects are in the store (checked concurrently)."""
    infos = list(infos)
    chunks: list[ObjectId] = sorted(
        {c for i in infos for raw in i.outputs.values() for c in Entry.from_json(raw).chunks}
    )
    present = dict(zip(chunks, store.objects_exist(chunks), strict=True))
    return [
        i
        for i in infos
        if all(present[c] for raw in i.outputs.values() for c in Entry.from_json(raw).chunks)
    ]


class PartialResults:
    """The succeeded datums of one running batch, written in segments as they come.

    ``add`` is called from the batch's worker threads. The first result after a write starts
    a timer that writes everything added by then, ``PARTIAL_EVERY`` seconds after the last
    write; a failed write is logged and its results go into the next one.
    """

    def __init__(
        self,
        records: RecordStore,
        pipeline: str,
        job_id: JobId,
        restart: int,
        index: int,
        *,
        every: float = PARTIAL_EVERY,
    ) -> None:
        self.records = records
        self.prefix = (
            f"{batch_dir(pipeline, job_id)}/{_stem(restart, index)}.partial-{secrets.token_hex(4)}"
        )
        self.every = every
        self._lock = threading.Lock()
        self._pending: list[DatumInfo] = []
        self._timer: threading.Timer | None = None
        self._last = 0.0
        self._seq = 0
        self._written: list[str] = []
        self._closed = False

    def add(self, info: DatumInfo) -> None:
        if info.state != DatumState.SUCCESS:
            return  # only a success is kept by a restart
        with self._lock:
            if self._closed:
                return
            self._pending.append(info)
            self._schedule()

    def _schedule(self) -> None:
        """Start the timer unless it runs (the caller holds the lock)."""
        if self._timer is None and not self._closed:
            delay = max(0.0, self._last + self.every - time.monotonic())
            self._timer = threading.Timer(delay, self._flush)
            self._timer.daemon = True
            self._timer.start()

    def close(self, *, flush: bool) -> None:
        """Stop writing; with ``flush`` write what is pending first (an interrupted batch)."""
        with self._lock:
            self._closed = True
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        if flush:
            self._flush()

    def discard(self) -> None:
        """Delete the segments written (the batch's full file now holds their results)."""
        for key in self._written:
            try:
                self.records.delete(key)
            except (VersionedError, OSError) as e:  # harmless: superseded, cleared on restart
                log.debug("could not delete %s: %s", key, e)

    def _flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
            self._timer = None
            self._last = time.monotonic()
            key = f"{self.prefix}-{self._seq:06d}.json"
            self._seq += 1
        if not pending:
            return
        try:
            self.records.put(key, _encode(pending))
        except (VersionedError, OSError) as e:
            log.warning("could not record finished datums in %s: %s", key, e)
            with self._lock:
                self._pending[:0] = pending
                self._schedule()  # try again later
            return
        with self._lock:
            self._written.append(key)


__all__ = [
    "PARTIAL_EVERY",
    "PartialResults",
    "batch_dir",
    "outputs_stored",
    "read_batches",
    "succeeded_before",
    "write_batch",
]
