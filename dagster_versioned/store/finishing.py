"""The finish claim: of several processes finishing one open commit, exactly one lands it.

An open commit is shared between processes, so two of them may call ``finish_commit`` on it at
the same moment. Landing is re-applied on a lost compare-and-swap, so without a guard the second
finisher would land the commit again on top of itself (a commit that is its own parent) or
overwrite the landed record with one built on an older head. Finishers therefore race for a
claim, ``open-commits/<id>.finishing``, made by an exclusive create like every ref-log entry:
the winner lands the commit and the others wait until it has landed and return it.

A finisher can be killed while it holds the claim. The claim names its holder (host, process
id, time), so another finisher takes it over when that process is gone from this host, or when
the claim is older than ``CLAIM_LEASE`` seconds (a holder on another machine); landing never
takes that long, and ``_land`` also returns early when the head is already the commit, so even
a takeover racing a slow holder cannot land the commit twice.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid

from dagster_versioned.store import layout
from dagster_versioned.store.backend import Backend

CLAIM_LEASE = 300.0
"""Seconds after which a claim whose holder cannot be checked is considered abandoned."""


def claim_key(repo: str, commit_id: str) -> str:
    return layout.finish_claim(repo, commit_id)


class FinishClaim:
    """One finisher's claim on landing one open commit (``acquire`` / ``release``)."""

    def __init__(self, backend: Backend, repo: str, commit_id: str) -> None:
        self.backend = backend
        self.key = claim_key(repo, commit_id)
        self.token = json.dumps(
            {
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "time": time.time(),
                "nonce": uuid.uuid4().hex,
            },
            sort_keys=True,
        ).encode()

    def acquire(self) -> bool:
        """Create the claim; ``False`` if another finisher holds it."""
        return self.backend.create(self.key, self.token)

    def release(self) -> None:
        """Give the claim up (only ours: a claim taken over meanwhile is left alone)."""
        if self.backend.read_or_none(self.key) == self.token:
            self.backend.delete(self.key)

    def take_over_if_abandoned(self) -> bool:
        """Remove the claim if its holder is gone; ``True`` if there is no live claim now."""
        held = self.backend.read_or_none(self.key)
        if held is None:
            return True
        if not abandoned(held):
            return False
        # Re-read just before deleting, so a claim made afresh by a faster taker survives.
        if self.backend.read_or_none(self.key) == held:
            self.backend.delete(self.key)
        return True


def abandoned(held: bytes, *, now: float | None = None, lease: float = CLAIM_LEASE) -> bool:
    """Whether a claim's holder is gone: a dead process on this host, or an expired lease.

    ``held`` is the holder's JSON: ``host``, ``pid`` and ``time`` (when it was made, or last
    refreshed by a heartbeat), optionally ``pidns``; ``holder_gone`` says what each means.
    """
    try:
        info = json.loads(held)
        host, pid, at = str(info["host"]), int(info["pid"]), float(info["time"])
        pidns = info.get("pidns")
    except (ValueError, KeyError, TypeError):
        return True  # unreadable: a holder killed while writing it
    return holder_gone(host, pid, at, pidns=pidns, now=now, lease=lease)


def holder_gone(
    host: str,
    pid: int,
    at: float,
    *,
    pidns: str | None = None,
    now: float | None = None,
    lease: float = CLAIM_LEASE,
) -> bool:
    """Whether process ``pid`` on ``host``, last heard of at ``at``, is gone.

    Gone when ``lease`` seconds passed since ``at`` (whatever the host: a holder on another
    machine cannot be checked, and a process id reused here by another process is no proof of
    life), or at once when it is a process of this host that no longer exists. A holder that
    records its PID namespace (``pidns``, see ``pid_namespace``) is looked up by id only from
    the same namespace: two containers may share a host name but not their process ids.
    """
    if (now if now is not None else time.time()) - at > lease:
        return True
    if host != socket.gethostname() or (pidns is not None and pidns != pid_namespace()):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, owned by another user
    return False


def pid_namespace() -> str | None:
    """This process's PID namespace (``pid:[4026531836]`` on Linux), ``None`` where unknown."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


__all__ = [
    "CLAIM_LEASE",
    "FinishClaim",
    "abandoned",
    "claim_key",
    "holder_gone",
    "pid_namespace",
]
