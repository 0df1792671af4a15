"""Branch heads as an append-only ref log, advanced by compare-and-swap.

Each state a branch has ever had is one entry ``repos/<repo>/branches/<branch>/<seq>.json``.
Entry ``seq + 1`` is written with an exclusive create, so of two writers that both read entry
``seq``, exactly one advances the branch and the other learns it lost and retries: heads move by
compare-and-swap with no lock files and no lock server. A deleted branch is an entry with no
head; creating it again continues the same log, so a sensor's cursor never goes backwards.

Finding the latest entry costs O(1) requests amortised: ``HEAD`` is a best-effort copy of the
newest entry, and the reader probes ``seq + 1`` until it is missing. A stale hint costs a probe,
never a wrong answer, because the hint is only written after the entry it copies exists.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from dagster_versioned.errors import CorruptStore
from dagster_versioned.store.backend import Backend
from dagster_versioned.store.commits import CommitId, canonical_json, format_time, now, parse_time
from dagster_versioned.store.triggers import Trigger

Reason = Literal["create", "commit", "move", "trigger", "config", "delete", "fsck"]
_SEQ_DIGITS = 12


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
        t, c = parse_time(raw["time"]), parse_time(raw["created"])
        assert t is not None
        assert c is not None
        return BranchHead(
            repo=raw["repo"],
            branch=raw["branch"],
            seq=int(raw["seq"]),
            head=CommitId(raw["head"]) if raw.get("head") else None,
            previous=CommitId(raw["previous"]) if raw.get("previous") else None,
            trigger=Trigger.from_json(raw["trigger"]) if raw.get("trigger") else None,
            reason=raw["reason"],
            time=t,
            created=c,
        )


def _entry_key(repo: str, branch: str, seq: int) -> str:
    return f"repos/{repo}/branches/{branch}/{seq:0{_SEQ_DIGITS}d}.json"


def _hint_key(repo: str, branch: str) -> str:
    return f"repos/{repo}/branches/{branch}/HEAD"


class RefLog:
    """Reads and advances branch ref logs."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def _parse(self, data: bytes, what: str) -> BranchHead:
        try:
            return BranchHead.from_json(json.loads(data))
        except (ValueError, KeyError, TypeError, AssertionError) as e:
            raise CorruptStore(f"ref log entry {what} is unreadable: {e}") from e

    def read(self, repo: str, branch: str, seq: int) -> BranchHead | None:
        key = _entry_key(repo, branch, seq)
        data = self.backend.read_or_none(key)
        return None if data is None else self._parse(data, key)

    def latest(self, repo: str, branch: str) -> BranchHead | None:
        """The newest entry of the branch's log (a deleted branch's too), or ``None``."""
        hint_data = self.backend.read_or_none(_hint_key(repo, branch))
        if hint_data is not None:
            entry: BranchHead | None = self._parse(hint_data, _hint_key(repo, branch))
        else:
            seqs = self._seqs(repo, branch)
            entry = self.read(repo, branch, seqs[-1]) if seqs else None
            if entry is None:
                return None
        assert entry is not None
        while True:
            nxt = self.read(repo, branch, entry.seq + 1)
            if nxt is None:
                break
            entry = nxt
        return entry

    def head(self, repo: str, branch: str) -> BranchHead | None:
        """The branch's current state, or ``None`` if it does not exist (or was deleted)."""
        entry = self.latest(repo, branch)
        return entry if entry is not None and entry.exists else None

    def _seqs(self, repo: str, branch: str) -> list[int]:
        names = self.backend.listdir(f"repos/{repo}/branches/{branch}")
        return sorted(int(n[:-5]) for n in names if n.endswith(".json") and n[:-5].isdigit())

    def entries(self, repo: str, branch: str, after: int = -1) -> list[BranchHead]:
        """Entries with ``seq > after``, oldest first (what a sensor reads past its cursor)."""
        out: list[BranchHead] = []
        seq = after + 1
        while True:
            entry = self.read(repo, branch, seq)
            if entry is None:
                if seq == 0 or out or after >= 0:
                    break
                seqs = [s for s in self._seqs(repo, branch) if s > after]
                if not seqs:
                    break
                seq = seqs[0]
                continue
            out.append(entry)
            seq += 1
        return out

    def branches(self, repo: str) -> list[str]:
        return self.backend.listdir(f"repos/{repo}/branches")

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
        data = canonical_json(entry.to_json())
        if not self.backend.create(_entry_key(repo, branch, entry.seq), data):
            return None
        # The entry exists, so the head has moved: a failure to refresh the hint must not
        # report the commit as failed (a stale hint only costs readers a probe).
        with contextlib.suppress(OSError):
            self.backend.write(_hint_key(repo, branch), data)
        return entry

    def with_trigger(self, entry: BranchHead, trigger: Trigger | None) -> BranchHead:
        return replace(entry, trigger=trigger)
