"""Branch heads as an append-only ref log, advanced by compare-and-swap.

Each state a branch has ever had is one entry ``repos/<repo>/branches/<branch>/<seq>.json``.
Entry ``seq + 1`` is written with an exclusive create, so of two writers that both read entry
``seq``, exactly one advances the branch and the other learns it lost and retries: heads move by
compare-and-swap with no lock files and no lock server. A deleted branch is an entry with no
head; creating it again continues the same log, so a sensor's cursor never goes backwards.

Finding the latest entry costs O(1) requests amortised: ``HEAD`` is a best-effort copy of the
newest entry, and the reader probes ``seq + 1`` until it is missing. A stale hint costs a probe,
never a wrong answer, because the hint is only written after the entry it copies exists. The
log is a ``RevisionLog`` (``revlog.py``) in the ref layout, so both compare-and-swap logs of the
store share one implementation.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from dagster_versioned.errors import CorruptStore
from dagster_versioned.store import layout
from dagster_versioned.store.backend import Backend
from dagster_versioned.store.commits import CommitId, format_time, now, parse_time
from dagster_versioned.store.revlog import Revision, RevisionLog
from dagster_versioned.store.triggers import Trigger

Reason = Literal["create", "commit", "move", "trigger", "config", "delete", "fsck"]
CAS_ATTEMPTS = 200
"""How many times a writer re-reads a branch and retries after losing a compare-and-swap."""
_SEQ = "seq"
"""The key an entry carries its own position under (a revision log's ``seq_field``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BranchHead:
    """One entry of a branch's ref log: the branch's whole state after one change."""

    repo: str
    branch: str
    seq: int
    """Position in the log, from 0; strictly increasing, never reused."""
    head: CommitId | None
    """The head commit, or ``None`` once the branch is deleted."""
    previous: CommitId | None
    """The head before this entry."""
    trigger: Trigger | None = None
    reason: Reason
    """Why the entry exists: a new commit, a manual move, a trigger firing, …"""
    time: datetime
    created: datetime
    """When the branch (this incarnation of it) was created."""

    @property
    def exists(self) -> bool:
        return self.reason != "delete"

    @property
    def moved(self) -> bool:
        """Whether this entry moved the head (what starts a job downstream)."""
        return self.exists and self.head is not None and self.head != self.previous

    def to_json(self) -> dict[str, Any]:
        return {
            "repo": self.repo,
            "branch": self.branch,
            "seq": self.seq,
            "head": self.head,
            "previous": self.previous,
            "trigger": self.trigger.to_json() if self.trigger else None,
            "reason": self.reason,
            "time": format_time(self.time),
            "created": format_time(self.created),
        }

    @staticmethod
    def from_json(raw: dict[str, Any]) -> BranchHead:
        return BranchHead(
            repo=raw["repo"],
            branch=raw["branch"],
            seq=int(raw["seq"]),
            head=CommitId(raw["head"]) if raw.get("head") else None,
            previous=CommitId(raw["previous"]) if raw.get("previous") else None,
            trigger=Trigger.from_json(raw["trigger"]) if raw.get("trigger") else None,
            reason=raw["reason"],
            time=_time(raw["time"]),
            created=_time(raw["created"]),
        )


def _time(text: str) -> datetime:
    parsed = parse_time(text)
    if parsed is None:
        raise ValueError("a time is missing")
    return parsed


class RefLog:
    """Reads and advances branch ref logs: one ``RevisionLog`` per branch, in the ref layout."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def log(self, repo: str, branch: str) -> RevisionLog:
        """The branch's log: ``<seq:012>.json`` entries beside a ``HEAD`` hint, the number in
        ``seq``, no write token, and one listing to find the newest when ``HEAD`` is missing."""
        return RevisionLog(
            self.backend,
            layout.branch_log(repo, branch),
            hint=layout.branch_hint(repo, branch),
            digits=layout.BRANCH_SEQ_DIGITS,
            key=functools.partial(layout.branch_entry, repo, branch),
            seq_field=_SEQ,
            write_token=False,
            list_when_unhinted=True,
            noun="ref log entry",
        )

    def _entry(self, log: RevisionLog, revision: Revision | None) -> BranchHead | None:
        if revision is None:
            return None
        key = log.key(revision.seq)
        if revision.seq < 0:
            raise CorruptStore(f"ref log entry {key} is unreadable: it has no '{_SEQ}'")
        try:
            return BranchHead.from_json({**revision.value, _SEQ: revision.seq})
        except (ValueError, KeyError, TypeError) as e:
            raise CorruptStore(f"ref log entry {key} is unreadable: {e}") from e

    def read(self, repo: str, branch: str, seq: int) -> BranchHead | None:
        log = self.log(repo, branch)
        return self._entry(log, log.read(seq))

    def latest(self, repo: str, branch: str) -> BranchHead | None:
        """The newest entry of the branch's log (a deleted branch's too), or ``None``."""
        log = self.log(repo, branch)
        return self._entry(log, log.latest())

    def head(self, repo: str, branch: str) -> BranchHead | None:
        """The branch's current state, or ``None`` if it does not exist (or was deleted)."""
        entry = self.latest(repo, branch)
        return entry if entry is not None and entry.exists else None

    def entries(self, repo: str, branch: str, after: int = -1) -> list[BranchHead]:
        """Entries with ``seq > after``, oldest first (what a sensor reads past its cursor)."""
        log = self.log(repo, branch)
        return [e for r in log.after(after) if (e := self._entry(log, r)) is not None]

    def branches(self, repo: str) -> list[str]:
        """Every branch that ever had an entry (deleted ones too)."""
        return self.backend.listdir(layout.branches_dir(repo))

    def heads(self, repo: str) -> list[BranchHead]:
        """The current state of every existing branch, newest created first (as pachctl
        lists branches)."""
        found = [h for name in self.branches(repo) if (h := self.head(repo, name)) is not None]
        return sorted(found, key=lambda h: h.created, reverse=True)

    def append(
        self,
        expected: BranchHead | None,
        *,
        repo: str,
        branch: str,
        head: CommitId | None,
        reason: Reason,
        trigger: Trigger | None,
    ) -> BranchHead | None:
        """Write the entry after ``expected``; ``None`` if another writer got there first."""
        at = now()
        created = at if expected is None or not expected.exists else expected.created
        entry = BranchHead(
            repo=repo,
            branch=branch,
            seq=0 if expected is None else expected.seq + 1,
            head=head,
            previous=expected.head if expected is not None and expected.exists else None,
            trigger=trigger,
            reason=reason,
            time=at,
            created=created,
        )
        # The hint is refreshed after the entry exists; a failed refresh is only a stale hint.
        return entry if self.log(repo, branch).create_at(entry.seq, entry.to_json()) else None
