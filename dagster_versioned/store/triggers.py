"""Branch triggers: when a source branch's new head should become the target branch's head.

Conditions follow Pachyderm's "Deferred Processing" page and ``isTriggered`` in
``master_trigger.go``:

* ``size``: the source head's total size minus the target head's (0 if none) ≥ the threshold,
  parsed like Docker's ``FromHumanSize`` (decimal: ``1MB`` = ``1M`` = 1,000,000 bytes), so
  deleting data never fires;
* ``commits``: at least N commits in the source head's history that the target head's history
  lacks (an AUTO root commit does not count);
* ``cron``: a tick of the schedule has passed since the target's head last moved;
* any condition by default, all of them with ``all=True``; with no condition, only ``all=True``
  fires (on every new source head).

A trigger only moves its target forward: a source head that is the target's head or one of its
ancestors (the source was rolled back behind the target) never fires, whatever the conditions
say, because the target already holds everything in it. Pachyderm reaches the same answer for a
rollback by hand by never evaluating triggers on a manual move; we evaluate on every move, so
the rule is spelled out here (docs/triggers.md, "When triggers are evaluated").

Everything here is a pure function of commits and a clock, so it is tested without a store.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dagster_versioned import durations
from dagster_versioned.errors import InvalidDuration, InvalidTrigger
from dagster_versioned.store.commits import Commit, CommitId, Origin
from dagster_versioned.store.names import validate_branch_name

_SIZE_RE = re.compile(r"^(\d+(?:\.\d+)?) ?([kKmMgGtTpP])?[iI]?[bB]?$")
_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15}
_MAX_COMMITS = 2**63 - 1
"""Pachyderm's ``commits`` is an int64."""
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
        raise InvalidTrigger(
            f"invalid trigger size {text!r}: larger than 2^63 bytes; use a smaller size, "
            "like '1MB' or '500GB'"
        )
    return int(size)


def _every_interval(text: str) -> timedelta:
    """The interval of ``@every``: a duration (``1h``, ``90m``, ``1h30m``, ``2d``) greater than
    0, read by the one parser every duration setting uses (``durations.py``)."""
    return timedelta(seconds=durations.parse_duration(text, "duration", positive=True))


def next_cron_tick(spec: str, after: datetime) -> datetime:
    """The first tick of ``spec`` strictly after ``after`` (timezone of ``after`` kept)."""
    text = spec.strip()
    if text.startswith("@every"):
        try:
            return after + _every_interval(text[len("@every") :].strip())
        except InvalidDuration as e:
            raise InvalidTrigger(f"invalid cron spec {spec!r}: {e}") from e
        except OverflowError as e:  # past year 9999
            raise InvalidTrigger(
                f"invalid cron spec {spec!r}: the interval reaches past the year 9999; "
                "use a shorter one, like '@every 24h'"
            ) from e
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
    """``spec`` stripped, if it parses; ``InvalidTrigger`` naming it otherwise."""
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidTrigger(
            f"invalid cron spec {spec!r}: use 5 fields like '0 * * * *', '@daily' or '@every 1h'"
        )
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
        if self.commits is not None:
            _validate_commits(self.commits)
        if self.cron is not None:
            validate_cron(self.cron)
        if self.condition is not None and (
            not isinstance(self.condition, str) or not self.condition
        ):
            raise InvalidTrigger(
                f"invalid trigger condition {self.condition!r}: use the name a condition was "
                "registered under, like 'approved'"
            )

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


def _validate_commits(commits: object) -> None:
    if not isinstance(commits, int) or isinstance(commits, bool):
        raise InvalidTrigger(
            f"invalid trigger commits {commits!r}: use a whole number of commits, like 3"
        )
    if commits < 0:  # Pachyderm's words, with the value
        raise InvalidTrigger(
            f"invalid trigger commits {commits}: can't trigger on a negative number of commits; "
            "use 0 (no commits condition) or more"
        )
    if commits > _MAX_COMMITS:
        raise InvalidTrigger(
            f"invalid trigger commits {commits}: at most {_MAX_COMMITS} (2^63 - 1, as in Pachyderm)"
        )


def should_fire(
    trigger: Trigger,
    source_head: Commit,
    target_head: Commit | None,
    ancestors: Callable[[Commit], Iterator[Commit]],
    now: datetime,
    custom: Callable[[str], bool] | None = None,
    *,
    target_moved: datetime | None = None,
) -> bool:
    """Whether the target should move to ``source_head``.

    ``ancestors(c)`` yields ``c``'s parents, nearest first. ``custom`` evaluates a named custom
    condition; without it a custom condition counts as not met. ``target_moved`` is when the
    target's head last moved (its ref-log entry), what a cron condition counts ticks from; it
    defaults to the time the target's head commit finished.

    The conditions are checked first with what costs no history walk beyond ``commits``
    commits (Pachyderm's count, which stops at the target's head or a root, an upper bound of
    ours); only if they hold are both histories walked (``relate``), to refuse a move back and
    to count the commits exactly when the histories diverged. So a commit that does not fire a
    size trigger costs no walk at all.
    """
    if target_head is not None and target_head.id == source_head.id:
        return False
    met = _conditions(trigger, source_head, target_head, ancestors, now, custom, target_moved)
    if not _combine(trigger, met.values()):
        return False
    lineage = relate(source_head, target_head, ancestors, cap=trigger.commits or 0)
    if lineage.behind:
        return False
    if trigger.commits:
        met["commits"] = lineage.new_commits >= trigger.commits
    return _combine(trigger, met.values())


def _conditions(
    trigger: Trigger,
    source_head: Commit,
    target_head: Commit | None,
    ancestors: Callable[[Commit], Iterator[Commit]],
    now: datetime,
    custom: Callable[[str], bool] | None,
    target_moved: datetime | None,
) -> dict[str, bool]:
    met: dict[str, bool] = {}
    if trigger.size:
        old = target_head.size_bytes if target_head is not None else 0
        met["size"] = source_head.size_bytes - old >= parse_size(trigger.size)
    if trigger.cron:
        since = target_moved or (target_head.finished if target_head is not None else None)
        met["cron"] = since is None or next_cron_tick(trigger.cron, since) <= now
    if trigger.commits:
        met["commits"] = _commits_since(source_head, target_head, ancestors, trigger.commits)
    if trigger.condition:
        met["condition"] = custom(trigger.condition) if custom is not None else False
    return met


def _combine(trigger: Trigger, met: Iterable[bool]) -> bool:
    results = list(met)
    if not results:
        return trigger.all
    return all(results) if trigger.all else any(results)


def _commits_since(
    head: Commit,
    target: Commit | None,
    ancestors: Callable[[Commit], Iterator[Commit]],
    wanted: int,
) -> bool:
    """Pachyderm's count: commits from ``head`` back to ``target`` or a root, up to ``wanted``."""
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


@dataclass(frozen=True, slots=True, kw_only=True)
class Lineage:
    """Where a source head stands against a target head, read from their histories."""

    behind: bool
    """The source head is the target's head or one of its ancestors: the target already holds
    all of it, so moving the target there would move it back."""
    new_commits: int
    """Commits in the source head's history that the target head's history lacks, counted up
    to the cap asked for (an AUTO root commit does not count)."""


def relate(
    head: Commit,
    target: Commit | None,
    ancestors: Callable[[Commit], Iterator[Commit]],
    *,
    cap: int = 0,
) -> Lineage:
    """Walk both histories in lockstep, one commit each, until they meet.

    Histories are chains (one parent per commit), so the first commit of one walk that the
    other walk has seen is where they meet: the target's head itself when the source moved
    forward, the source head when it moved back, a common ancestor when they diverged. The
    walk costs about twice the distance to that commit, whichever side it is on. Histories
    that share no commit (a branch's own AUTO root) cost the target's whole history and ``cap``
    commits of the source's: only then is it known that the target holds none of them.
    """
    if target is None:
        return Lineage(behind=False, new_commits=_count(_chain(head, ancestors), cap))
    ours, theirs = _chain(head, ancestors), _chain(target, ancestors)
    position: dict[CommitId, int] = {}  # the source head's history walked so far: distances
    seen: set[CommitId] = set()  # the target head's history walked so far
    last: Commit | None = None
    ours_done = theirs_done = False
    while True:
        if not ours_done:
            mine = next(ours, None)
            if mine is None:
                ours_done = True
            elif mine.id in seen:
                return _met(len(position), cap)
            else:
                position[mine.id], last = len(position), mine
        if not theirs_done:
            other = next(theirs, None)
            if other is None:
                theirs_done = True
            elif other.id in position:
                return _met(position[other.id], cap)
            else:
                seen.add(other.id)
        if theirs_done and (ours_done or len(position) >= cap):
            # The target's whole history is known and holds no commit walked on our side.
            auto_root = last is not None and last.parent is None and last.origin == Origin.AUTO
            return Lineage(behind=False, new_commits=min(cap, len(position) - int(auto_root)))


def _met(distance: int, cap: int) -> Lineage:
    return Lineage(behind=distance == 0, new_commits=min(cap, distance))


def _count(commits: Iterator[Commit], cap: int) -> int:
    count = 0
    for commit in commits:
        if count >= cap or (commit.parent is None and commit.origin == Origin.AUTO):
            break
        count += 1
    return count


def _chain(head: Commit, ancestors: Callable[[Commit], Iterator[Commit]]) -> Iterator[Commit]:
    yield head
    yield from ancestors(head)
