"""Revision logs: compare-and-swap for any JSON record several processes update.

A record's versions are keys ``<directory>/revisions/<seq>.json`` (a branch's ref log names
them ``<seq>.json`` directly, ``refs.py``); version ``seq + 1`` is written with the backend's
exclusive create. Of two writers that both read version ``seq``, exactly one creates
``seq + 1``; the other re-reads and re-applies its change to what won, so no update is ever
lost and a change that is no longer allowed (a job that already ended) is refused instead of
overwriting. Branch heads, the engines' job records and grid jobs all use this one log.

A *hint* key (where listings look: a job's ``jobs/<pipeline>/<id>.json``, a branch's ``HEAD``)
holds a copy of the newest version with its number. It is written after the version it copies
exists, best effort, so a stale hint costs readers one probe of ``seq + 1``, never a wrong
answer. A hint without a number (a record written before revision logs) is read as version
``-1``: the first update makes version 0 from it.
"""

from __future__ import annotations

import contextlib
import json
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dagster_versioned.errors import Conflict, CorruptStore
from dagster_versioned.store import layout
from dagster_versioned.store.backend import Backend
from dagster_versioned.store.commits import canonical_json

ATTEMPTS = 100
"""Updates re-applied at most this often before ``Conflict``: far more than racing writers."""
REVISION = "revision"
"""The key a stored version carries its own number under."""
WRITE = "write"
"""A random token per write: two writers appending the same value must still write different
bytes, because an exclusive create that finds its key holding its own bytes counts as its own
earlier try (``Backend.create``), and both would think they won."""


def race_backoff(attempt: int = 0) -> None:
    """Full-jitter exponential backoff for the loser of an exclusive-create race: losers
    spread out instead of colliding again (matters on object stores, where one attempt is
    several round trips). Shared by every compare-and-swap loop of the store."""
    time.sleep(random.uniform(0, min(0.5, 0.005 * 2 ** min(attempt, 10))))


@dataclass(frozen=True, slots=True)
class Revision:
    """One stored version of a record."""

    seq: int
    """Its number in the log: 0 for the first, ``-1`` for a record from before revision logs."""
    value: dict[str, Any]
    """The record as JSON, without the ``revision`` key."""


Change = Callable[[Revision | None], dict[str, Any] | None]
"""Given the current version (``None``: no record yet), the new value, or ``None`` to keep it."""


class RevisionLog:
    """The versions of one record: read the newest, append the next by exclusive create.

    Job records use the defaults (``<directory>/revisions/<seq>.json``, the number under
    ``revision``, a write token). A branch's ref log (``refs.py``) is the same log with its own
    layout: ``key`` places each version, ``seq_field`` names the number inside it, entries carry
    no token (each names its own time and previous head, so two writers never write the same
    bytes), and a missing hint is recovered by one listing instead of probing from 0.
    """

    def __init__(
        self,
        backend: Backend,
        directory: str,
        *,
        hint: str,
        digits: int = layout.REVISION_SEQ_DIGITS,
        key: Callable[[int], str] | None = None,
        seq_field: str = REVISION,
        write_token: bool = True,
        list_when_unhinted: bool = False,
        noun: str = "record",
    ) -> None:
        self.backend = backend
        self.directory = directory
        self.hint = hint
        self.digits = digits
        """Zero-padding of version numbers in keys, so a listing sorts them (fixed per log)."""
        self._key = key or (lambda seq: layout.revision(directory, seq, digits))
        self.seq_field = seq_field
        self.write_token = write_token
        self.list_when_unhinted = list_when_unhinted
        self.noun = noun
        """What an unreadable version is called in ``CorruptStore`` (``ref log entry``)."""

    def key(self, seq: int) -> str:
        """Where version ``seq`` is stored."""
        return self._key(seq)

    def _parse(self, data: bytes, key: str) -> Revision:
        try:
            raw = json.loads(data)
            seq = int(raw.pop(self.seq_field, -1))
            raw.pop(WRITE, None)
        except (ValueError, TypeError, AttributeError) as e:
            raise CorruptStore(f"{self.noun} {key} is unreadable: {e}") from e
        return Revision(seq, raw)

    def read(self, seq: int) -> Revision | None:
        """Version ``seq``, or ``None`` if it was never written."""
        key = self.key(seq)
        data = self.backend.read_or_none(key)
        return None if data is None else self._parse(data, key)

    def latest(self) -> Revision | None:
        """The newest version, or ``None`` if the record does not exist."""
        data = self.backend.read_or_none(self.hint)
        current: Revision | None
        if data is not None:
            current = self._parse(data, self.hint)
        else:  # no hint yet (its writer died between the version and the hint), or no record
            current = self._newest_listed() if self.list_when_unhinted else self.read(0)
            if current is None:
                return None
        while (nxt := self.read(current.seq + 1)) is not None:
            current = nxt
        return current

    def _newest_listed(self) -> Revision | None:
        """The highest version a listing of the versions' folder shows (one request)."""
        folder, _, first = self.key(0).rpartition("/")
        suffix = first[self.digits :]  # what follows the number: ``.json``
        names = [n.removesuffix(suffix) for n in self.backend.listdir(folder) if n.endswith(suffix)]
        seqs = [int(n) for n in names if n.isdigit()]
        return self.read(max(seqs)) if seqs else None

    def after(self, seq: int = -1) -> list[Revision]:
        """Versions numbered above ``seq``, oldest first (what a sensor reads past its cursor)."""
        out: list[Revision] = []
        while (nxt := self.read(seq + 1)) is not None:
            out.append(nxt)
            seq += 1
        return out

    def create(self, value: dict[str, Any]) -> Revision | None:
        """Write version 0 unless the record exists; ``None`` when it did (another won)."""
        if self.backend.exists(self.hint) or self.backend.exists(self.key(0)):
            return None
        return self.append(None, value)

    def append(self, expected: Revision | None, value: dict[str, Any]) -> Revision | None:
        """Write the version after ``expected``; ``None`` if another writer got there first."""
        seq = 0 if expected is None else expected.seq + 1
        return Revision(seq, value) if self.create_at(seq, value) else None

    def create_at(self, seq: int, value: dict[str, Any]) -> bool:
        """Write ``value`` as version ``seq``, then the hint; ``False`` if ``seq`` exists."""
        stored = {**value, self.seq_field: seq}
        if self.write_token:
            stored[WRITE] = secrets.token_hex(8)
        data = canonical_json(stored)
        if not self.backend.create(self.key(seq), data):
            return False
        # The version exists, so the record has changed: a failed hint refresh only costs
        # readers a probe, and must not report the update as failed.
        with contextlib.suppress(OSError):
            self.backend.write(self.hint, data)
        return True

    def update(
        self, change: Change, *, known: Revision | None = None, what: str
    ) -> Revision | None:
        """Apply ``change`` to the newest version by compare-and-swap; the version that results.

        ``known`` is a version the caller read or wrote before: tried first, so a writer that
        is alone pays no read. ``change`` may run several times (once per lost race) and must
        derive the new value from the version it is given. ``None`` from it keeps the record
        as it is (the current version is returned). Raises ``Conflict`` naming ``what`` after
        ``ATTEMPTS`` lost races.
        """
        current = known if known is not None else self.latest()
        for attempt in range(ATTEMPTS):
            value = change(current)
            if value is None:
                return current
            written = self.append(current, value)
            if written is not None:
                return written
            race_backoff(attempt)
            current = self.latest()
        newest = self.latest()
        raise Conflict(
            f"could not update {what}: {ATTEMPTS} other writers changed it first "
            f"(last read revision {current.seq if current else None}, "
            f"now {newest.seq if newest else None})",
            expected=current.seq if current else None,
            got=newest.seq if newest else None,
        )


__all__ = ["ATTEMPTS", "Change", "Revision", "RevisionLog", "race_backoff"]
