"""Checks of the engines' records that ``fsck`` runs after its own: the store knows no engine.

The store verifies what it owns (refs, commits, trees, objects, packs), but the records in its
record areas (``layout.RECORD_AREAS``) mean something only to the engine that writes them: a
record may name a commit the store can look up, yet where and why it names it is the engine's
business. So each engine registers a check here when it is imported, and ``fsck``
runs every registered one, the way pytest's plugins add to a run without the runner naming
them. A check is given the store and the repos fsck was asked about (``None``: all of them)
and yields one line per problem, in the words fsck reports its own in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from dagster_versioned.errors import InvalidArgument

if TYPE_CHECKING:
    from dagster_versioned.store.store import Store

RecordCheck = Callable[["Store", "frozenset[str] | None"], Iterable[str]]
"""``check(store, repos)``: the problems found, each a sentence naming the record."""

_CHECKS: dict[str, RecordCheck] = {}


def register_record_check(name: str, check: RecordCheck) -> None:
    """Have every later ``fsck`` run ``check``; registering ``name`` again replaces it (so a
    module imported twice, or reloaded, registers once)."""
    if not name or not name.strip():
        raise InvalidArgument(f"invalid record check name {name!r}: give it a non-empty name")
    _CHECKS[name] = check


def unregister_record_check(name: str) -> None:
    """Stop running the check registered as ``name``; nothing happens if there is none."""
    _CHECKS.pop(name, None)


def record_checks() -> list[tuple[str, RecordCheck]]:
    """The registered checks by name, in the order fsck runs them (sorted, so a report reads
    the same whatever order the engines were imported in)."""
    return sorted(_CHECKS.items())


__all__ = ["RecordCheck", "record_checks", "register_record_check", "unregister_record_check"]
