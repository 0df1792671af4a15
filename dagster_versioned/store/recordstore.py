"""The engines' auxiliary records (jobs, datums, plans, leases, grid jobs), kept by the store.

The Pachyderm and grid engines need a little mutable state next to the versioned data: job
records several processes update, plans written once, leases renewed by a heartbeat. They get
it here, as operations on keys in the record areas of ``layout``, rather than a backend: the
store keeps the only handle on its bytes, so an engine cannot overwrite an object or a ref log
by a mistaken key, and the guarantees the records rely on (exclusive create, read-your-writes)
are stated once, in ``Backend``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from dagster_versioned.errors import CorruptStore, InvalidArgument
from dagster_versioned.store import layout
from dagster_versioned.store.backend import Backend
from dagster_versioned.store.revlog import RevisionLog


def _checked(key: str) -> str:
    if not layout.is_record_key(key):
        areas = ", ".join(f"{a}/" for a in layout.RECORD_AREAS)
        raise InvalidArgument(f"record key {key!r} is outside the record areas ({areas})")
    return key


class RecordStore:
    """Create, read, update by compare-and-swap, list and delete records below the areas."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    # -- single records ------------------------------------------------------------------

    def read(self, key: str) -> bytes | None:
        """The record's bytes, or ``None`` if it was never written (or was deleted)."""
        return self._backend.read_or_none(_checked(key))

    def read_json(self, key: str) -> Any | None:
        """The record parsed as JSON; ``CorruptStore`` naming the key when it is not JSON."""
        data = self.read(key)
        if data is None:
            return None
        try:
            return json.loads(data)
        except ValueError as e:
            raise CorruptStore(f"record {key} is unreadable: {e}") from e

    def exists(self, key: str) -> bool:
        return self._backend.exists(_checked(key))

    def put(self, key: str, data: bytes) -> None:
        """Write (or replace) the record; readers see the old bytes or the new, never a mix."""
        self._backend.write(_checked(key), data)

    def create(self, key: str, data: bytes) -> bool:
        """Write the record unless it exists; ``False`` when another writer created it first."""
        return self._backend.create(_checked(key), data)

    def put_missing(self, items: Iterable[tuple[str, bytes]]) -> None:
        """Write immutable records (their key names their content), in parallel, skipping those
        already there."""
        self._backend.write_missing([(_checked(k), d) for k, d in items])

    def delete(self, key: str) -> None:
        """Remove the record; nothing happens if it is not there."""
        self._backend.delete(_checked(key))

    def delete_tree(self, prefix: str) -> None:
        """Remove every record below ``prefix``."""
        self._backend.delete_tree(_checked(prefix))

    # -- listing ---------------------------------------------------------------------------

    def list(self, prefix: str, *, after: str | None = None, limit: int | None = None) -> list[str]:
        """Names directly below ``prefix``, sorted; ``[]`` when it holds nothing.

        ``after`` and ``limit`` page through a large folder: the names greater than ``after``,
        at most ``limit`` of them, so a caller can resume from the last name it saw.
        """
        if limit is not None and limit < 1:
            raise InvalidArgument(f"limit must be at least 1, got {limit}")
        names = self._backend.listdir(_checked(prefix))
        if after is not None:
            names = [n for n in names if n > after]
        return names if limit is None else names[:limit]

    # -- records several writers update ----------------------------------------------------

    def log(
        self, directory: str, *, hint: str, digits: int = layout.REVISION_SEQ_DIGITS
    ) -> RevisionLog:
        """The revision log of the record at ``directory``: read the newest version, update by
        compare-and-swap (``revlog.py``). ``hint`` is where its newest copy is kept."""
        return RevisionLog(self._backend, _checked(directory), hint=_checked(hint), digits=digits)


__all__ = ["RecordStore"]
