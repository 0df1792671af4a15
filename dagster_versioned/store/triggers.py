"""Branch triggers: when a source branch's new head should become the target branch's head.

Conditions follow Pachyderm's "Deferred Processing" page and ``master_trigger.go``:

* ``size``: the source head's total size minus the target head's (0 if none) ≥ the threshold,
  parsed like Docker's ``FromHumanSize`` (decimal: ``1MB`` = ``1M`` = 1,000,000 bytes), so
  deleting data never fires;
* ``commits``: at least N commits on the source since the target's head;
* ``cron``: a tick of the schedule has passed since the target's head was finished;
* any condition by default, all of them with ``all=True``; with no condition, only ``all=True``
  fires (on every new source head).

Everything here is a pure function of commits and a clock, so it is tested without a store.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dagster_versioned.errors import InvalidTrigger
from dagster_versioned.store.commits import Commit, Origin
from dagster_versioned.store.names import validate_branch_name

_SIZE_RE = re.compile(r"^(\d+(?:\.\d+)?) ?([kKmMgGtTpP])?[iI]?[bB]?$")
_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15}
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_CRON_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


def parse_size(text: str) -> int:
    """Bytes in a human size like ``1MB``, ``500KB``, ``1 M``; decimal units as Pachyderm."""
    m = _SIZE_RE.match(text.strip()) if isinstance(text, str) else None
    if not m:
        raise InvalidTrigger(
            f"invalid trigger size {text!r}: use a number with an optional unit, "
            "like '1MB', '500KB', '1M' or '2 GB'"
        )
    size = float(m.group(1)) * _UNITS[(m.group(2) or "").lower()]
    if size > 2**63:  # float("9" * 400) is inf, and int(inf) raises OverflowError
        raise InvalidTrigger(f"invalid trigger size {text!r}: larger than 2^63 bytes")
    return int(size)


def parse_duration(text: str) -> timedelta:
    """A Go-style duration (``1h``, ``90m``, ``1h30m``, ``10s``)."""
    pos, total = 0, 0.0
    for m in _DURATION_RE.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text or not 0 < total < timedelta.max.total_seconds():
        raise InvalidTrigger(
            f"invalid duration {text!r} in '@every': use Go durations like '1h', '30m', '1h30m'"
        )
    return timedelta(seconds=total)


def next_cron_tick(spec: str, after: datetime) -> datetime:
    """The first tick of ``spec`` strictly after ``after`` (timezone of ``after`` kept)."""
    text = spec.strip()
    if text.startswith("@every"):
        try:
            return after + parse_duration(text[len("@every") :].strip())
        except OverflowError as e:  # past year 9999
            raise InvalidTrigger(f"invalid cron spec {spec!r}: the interval is too long") from e
    expr = _CRON_ALIASES.get(text, text)
    from croniter import croniter  # local import: the CLI must start fast

    try:
        nxt: datetime = croniter(expr, after).get_next(datetime)
    except (ValueError, KeyError, TypeError) as e:
        raise InvalidTrigger(
            f"invalid cron spec {spec!r}: use 5 fields like '0 * * * *', '@daily' or "
            f"'@every 1h' ({e})"
        ) from e
    return nxt


def validate_cron(spec: str) -> str:
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidTrigger("invalid cron spec '': use 5 fields like '0 * * * *' or '@every 1h'")
    text = spec.strip()
    if not text.startswith("@every") and text not in _CRON_ALIASES and len(text.split()) != 5:
        raise InvalidTrigger(
            f"invalid cron spec {spec!r}: use 5 fields like '0 * * * *', '@daily' or '@every 1h'"
        )
    from datetime import UTC

    next_cron_tick(text, datetime(2000, 1, 1, tzinfo=UTC))
    return text


@dataclass(frozen=True, slots=True, kw_only=True)
class Trigger:
    """Move the target branch's head to ``branch``'s head when the conditions hold."""

    branch: str
    """The source branch, in the same repo; it need not exist yet."""
    size: str | None = None
    """Human size of new data, e.g. ``1MB``."""
    cron: str | None = None
    """A cron spec; the condition holds once a tick passed since the target head finished."""
    commits: int | None = None
    """How many new commits on the source fire the trigger."""
    all: bool = False
    """Require every condition instead of any."""
    condition: str | None = None
    """Name of a custom condition registered with the Dagster glue (evaluated by its sensor)."""

    def __post_init__(self) -> None:
        try:
            validate_branch_name(self.branch)
        except ValueError as e:
            raise InvalidTrigger(f"invalid trigger branch: {e}") from e
        if self.size is not None:
            parse_size(self.size)
        if self.commits is not None and (
            not isinstance(self.commits, int) or isinstance(self.commits, bool)
        ):
            raise InvalidTrigger(f"invalid trigger commits {self.commits!r}: expected a number")
        if self.commits is not None and self.commits < 0:
            raise InvalidTrigger("can't trigger on a negative number of commits")
        if self.cron is not None:
            validate_cron(self.cron)

    @property
    def has_conditions(self) -> bool:
        return bool(self.size or self.cron or self.commits or self.condition)

    def describe(self) -> str:
        """Pachyderm's TRIGGER column: ``staging on Size(1MB) or Commits(3)``."""
        conds: list[str] = []
        if self.cron:
            conds.append(f"Cron({self.cron})")
        if self.size:
            conds.append(f"Size({self.size})")
        if self.commits:
            conds.append(f"Commits({self.commits})")
        if self.condition:
            conds.append(f"Condition({self.condition})")
        joiner = " and " if self.all else " or "
        return f"{self.branch} on {joiner.join(conds)}" if conds else self.branch

    def to_json(self) -> dict[str, Any]:
        raw: dict[str, Any] = {"branch": self.branch, "all": self.all}
        for key in ("size", "cron", "commits", "condition"):
            value = getattr(self, key)
            if value is not None:
                raw[key] = value
        return raw

    @staticmethod
    def from_json(raw: dict[str, Any]) -> Trigger:
        return Trigger(
            branch=raw["branch"],
            size=raw.get("size"),
            cron=raw.get("cron"),
            commits=raw.get("commits"),
            all=bool(raw.get("all", False)),
            condition=raw.get("condition"),
        )


def should_fire(
    trigger: Trigger,
    source_head: Commit,
    target_head: Commit | None,
    ancestors: Callable[[Commit], Iterator[Commit]],
    now: datetime,
    custom: Callable[[str], bool] | None = None,
) -> bool:
    """Whether the target should move to ``source_head``.

    ``ancestors(c)`` yields ``c``'s parents, nearest first. ``custom`` evaluates a named custom
    condition; without it a custom condition counts as not met.
    """
    if target_head is not None and target_head.id == source_head.id:
        return False
    results: list[bool] = []
    if trigger.size:
        old = target_head.size_bytes if target_head is not None else 0
        results.append(source_head.size_bytes - old >= parse_size(trigger.size))
    if trigger.cron:
        since = target_head.finished if target_head is not None else None
        results.append(since is None or next_cron_tick(trigger.cron, since) <= now)
    if trigger.commits:
        results.append(_commits_since(source_head, target_head, ancestors, trigger.commits))
    if trigger.condition:
        results.append(custom(trigger.condition) if custom is not None else False)
    if not results:
        return trigger.all
    return all(results) if trigger.all else any(results)


def _commits_since(
    head: Commit,
    target: Commit | None,
    ancestors: Callable[[Commit], Iterator[Commit]],
    wanted: int,
) -> bool:
    count = 0
    for commit in _chain(head, ancestors):
        if target is not None and commit.id == target.id:
            break
        if commit.parent is None and commit.origin == Origin.AUTO:
            break
        count += 1
        if count >= wanted:
            return True
    return count >= wanted


def _chain(head: Commit, ancestors: Callable[[Commit], Iterator[Commit]]) -> Iterator[Commit]:
    yield head
    yield from ancestors(head)
