"""Worker leases: which processes are working on a job now, and which of them were lost.

Every process working on a job — planning it, running a batch of its datums, writing its output
commit — holds a lease while it does: ``workers/<pipeline>@<job id>@<token>.json``, naming its
host, process id, the job's incarnation (``restart``), the Dagster run and the step. A heartbeat
thread refreshes it every ``HEARTBEAT`` seconds, and it is deleted when the work ends, normally
or by an exception. A process killed with SIGKILL — by a user, the OOM killer, or with its
machine — cannot delete it: its lease stays and names a dead process, or stops being refreshed.
``WorkerLease.lost`` applies the test finish claims use (``store.finishing.holder_gone``): a
dead process on this host at once, any holder ``LEASE`` seconds after its last heartbeat. The
``dv_lost_workers`` sensor then ends the job FAILURE, naming the worker.

Leases live in one flat folder, not under each job, so finding the lost ones costs one listing
of the workers alive now rather than a walk over every job ever run.

Example::

    with hold_lease(store.records, "edges", job_id, restart=0, run_id=run_id, step="finish"):
        ...  # the lease exists, refreshed, until the block exits
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from dagster_versioned.errors import VersionedError
from dagster_versioned.pps.ids import JobId
from dagster_versioned.store import layout
from dagster_versioned.store.finishing import holder_gone, pid_namespace
from dagster_versioned.store.recordstore import RecordStore

LEASE_DIR = layout.WORKERS
HEARTBEAT = 10.0
"""Seconds between refreshes of a lease."""
LEASE = 60.0
"""Seconds without a heartbeat after which a worker that cannot be checked counts as lost."""
log = logging.getLogger("dagster_versioned.pipelines")


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerLease:
    """One process's claim to be working on one job."""

    pipeline: str
    job_id: JobId
    restart: int
    """The incarnation of the job the worker works for (``JobInfo.restart``)."""
    run_id: str | None
    """The Dagster run the worker belongs to (``None`` outside Dagster)."""
    step: str
    """What the worker does: ``plan``, ``datums 2/4`` (a batch), ``finish``."""
    host: str
    pid: int
    pidns: str | None = None
    """The worker's PID namespace, so its id is looked up only from the same one."""
    started: float
    time: float
    """The last heartbeat (seconds since the epoch)."""
    token: str

    @property
    def key(self) -> str:
        return lease_key(self.pipeline, self.job_id, self.token)

    def lost(self, now: float | None = None) -> bool:
        """Whether the worker is gone (dead on this host, or silent for ``LEASE`` seconds)."""
        return holder_gone(self.host, self.pid, self.time, pidns=self.pidns, now=now, lease=LEASE)

    def lost_reason(self, now: float | None = None) -> str:
        """What a job whose worker was lost records as its reason."""
        silent = (now if now is not None else time.time()) - self.time
        why = f"no heartbeat for {silent:.0f}s" if silent > LEASE else "killed or crashed mid-job"
        return (
            f"worker pid {self.pid} on host {self.host} (run {self.run_id or '-'}, "
            f"step {self.step}) was lost: {why}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "job": self.job_id,
            "restart": self.restart,
            "run_id": self.run_id,
            "step": self.step,
            "host": self.host,
            "pid": self.pid,
            "pidns": self.pidns,
            "started": self.started,
            "time": self.time,
            "token": self.token,
        }

    @staticmethod
    def from_json(raw: dict[str, Any]) -> WorkerLease:
        return WorkerLease(
            pipeline=str(raw["pipeline"]),
            job_id=JobId(str(raw["job"])),
            restart=int(raw["restart"]),
            run_id=raw.get("run_id"),
            step=str(raw.get("step", "")),
            host=str(raw["host"]),
            pid=int(raw["pid"]),
            pidns=raw.get("pidns"),
            started=float(raw["started"]),
            time=float(raw["time"]),
            token=str(raw["token"]),
        )


def lease_key(pipeline: str, job_id: JobId, token: str) -> str:
    return layout.lease(pipeline, job_id, token)


def new_lease(
    pipeline: str, job_id: JobId, *, restart: int, run_id: str | None, step: str
) -> WorkerLease:
    """A lease for this process (not yet written)."""
    at = time.time()
    return WorkerLease(
        pipeline=pipeline,
        job_id=job_id,
        restart=restart,
        run_id=run_id,
        step=step,
        host=socket.gethostname(),
        pid=os.getpid(),
        pidns=pid_namespace(),
        started=at,
        time=at,
        token=secrets.token_hex(8),
    )


def list_leases(records: RecordStore, pipeline: str | None = None) -> list[WorkerLease]:
    """Every lease in the store (of one pipeline's jobs); unreadable ones are skipped.

    A lease is written whole (a rename on disk, one PUT on S3), so an unreadable one is a lease
    deleted between the listing and the read, not a torn one.
    """
    prefix = f"{pipeline}@" if pipeline else ""
    found = []
    for name in records.list(LEASE_DIR):
        if not (name.startswith(prefix) and name.endswith(".json")):
            continue
        data = records.read(f"{LEASE_DIR}/{name}")
        if data is None:
            continue
        with contextlib.suppress(ValueError, KeyError, TypeError):
            found.append(WorkerLease.from_json(json.loads(data)))
    return found


def job_leases(
    records: RecordStore, pipeline: str, job_id: JobId, *, restart: int | None = None
) -> list[WorkerLease]:
    """The leases on job ``<pipeline>@<job_id>`` (on its incarnation ``restart``)."""
    return [
        w
        for w in list_leases(records, pipeline)
        if w.job_id == job_id and restart in (None, w.restart)
    ]


def drop_lease(records: RecordStore, lease: WorkerLease) -> None:
    """Delete a lease (the sensor does, once it dealt with a lost worker)."""
    records.delete(lease.key)


class LeaseHolder:
    """Writes a lease, refreshes it on a daemon thread, and deletes it on ``release``."""

    def __init__(
        self, records: RecordStore, lease: WorkerLease, *, every: float = HEARTBEAT
    ) -> None:
        self.records = records
        self.lease = lease
        self.every = every
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, daemon=True, name=f"dv-lease-{lease.pipeline}"
        )

    def start(self) -> None:
        self._write()
        self._thread.start()

    def update(self, **changes: Any) -> None:
        """Change the lease (the step, the incarnation) and write it at once."""
        with self._lock:
            self.lease = replace(self.lease, **changes)
        self._write()

    def release(self) -> None:
        """Stop the heartbeat, then delete the lease (in that order: a beat after the delete
        would leave a lease of a process about to exit, which would later read as lost)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        try:
            self.records.delete(self.lease.key)
        except (VersionedError, OSError) as e:  # the sensor will find it and see the job's state
            log.warning("could not delete worker lease %s: %s", self.lease.key, e)

    def _write(self) -> None:
        with self._lock:
            self.lease = replace(self.lease, time=time.time())
            data = json.dumps(self.lease.to_json(), sort_keys=True).encode()
            self.records.put(self.lease.key, data)

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self._write()
            except (VersionedError, OSError) as e:  # try again at the next beat
                log.warning("worker lease %s not refreshed: %s", self.lease.key, e)


class _Sessions(threading.local):
    def __init__(self) -> None:
        self.stack: list[dict[tuple[int, str, JobId], LeaseHolder]] = []


_SESSIONS = _Sessions()


@contextlib.contextmanager
def lease_session() -> Iterator[None]:
    """Keep the leases taken inside until the session ends, and share one per job.

    ``run_job`` plans, processes and finishes a job in one process, each phase under its own
    guard; in a session the phases share one lease, so there is no moment between them when
    the process works on the job without one.
    """
    held: dict[tuple[int, str, JobId], LeaseHolder] = {}
    _SESSIONS.stack.append(held)
    try:
        yield
    finally:
        _SESSIONS.stack.pop()
        for holder in held.values():
            holder.release()


@contextlib.contextmanager
def hold_lease(
    records: RecordStore,
    pipeline: str,
    job_id: JobId,
    *,
    restart: int,
    run_id: str | None,
    step: str,
    every: float = HEARTBEAT,
) -> Iterator[WorkerLease]:
    """Hold a lease on job ``<pipeline>@<job_id>`` while the block runs.

    In a session, the phases share the lease they take through the same ``records`` (one
    store, opened once: a holder keeps its ``records`` alive, so its ``id`` is not reused).
    """
    session = _SESSIONS.stack[-1] if _SESSIONS.stack else None
    key = (id(records), pipeline, job_id)
    if session is not None and key in session:
        holder = session[key]
        holder.update(restart=restart, run_id=run_id, step=step)
        yield holder.lease
        return
    holder = LeaseHolder(
        records,
        new_lease(pipeline, job_id, restart=restart, run_id=run_id, step=step),
        every=every,
    )
    holder.start()
    if session is not None:
        session[key] = holder  # released when the session ends
        yield holder.lease
        return
    try:
        yield holder.lease
    finally:
        holder.release()


__all__ = [
    "HEARTBEAT",
    "LEASE",
    "LeaseHolder",
    "WorkerLease",
    "drop_lease",
    "hold_lease",
    "job_leases",
    "lease_session",
    "list_leases",
    "new_lease",
]
