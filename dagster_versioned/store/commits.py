"""Commit records and global ids.

A commit id is 32 lowercase hex digits, like Pachyderm's. One id may name a commit in several
repos: that is a global id, shared by an input commit, the output commits it caused and the
jobs that made them. Within one repo an id names one commit.

A finished commit's record is immutable. An open commit (started with ``start_commit``) has a
record under ``open-commits/`` and its writes as separate op files, so several processes can
write into it; finishing it folds the ops into a tree and writes the final record.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, NewType

from dagster_versioned.errors import CorruptStore
from dagster_versioned.store.objects import ObjectId
from dagster_versioned.store.trees import EMPTY_ROOT, Entry

CommitId = NewType("CommitId", str)
"""32 lowercase hex digits."""


def new_commit_id() -> CommitId:
    return CommitId(secrets.token_hex(16))


def now() -> datetime:
    return datetime.now(UTC)


def format_time(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str | None) -> datetime | None:
    if text is None:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def canonical_json(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


class Origin(StrEnum):
    """Who made a commit: a user (``put file``, a commit context), or the system (``AUTO``)."""

    USER = "USER"
    AUTO = "AUTO"
    FSCK = "FSCK"


@dataclass(frozen=True, slots=True, kw_only=True)
class CommitRef:
    """A commit named by repo, branch and id, as provenance records it."""

    repo: str
    branch: str
    id: CommitId

    def to_json(self) -> dict[str, str]:
        return {"repo": self.repo, "branch": self.branch, "id": self.id}

    @staticmethod
    def from_json(raw: dict[str, str]) -> CommitRef:
        return CommitRef(repo=raw["repo"], branch=raw["branch"], id=CommitId(raw["id"]))

    def __str__(self) -> str:
        return f"{self.repo}@{self.id}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Commit:
    """One commit of one repo."""

    id: CommitId
    repo: str
    branch: str
    """The branch the commit was made on (it stays in that branch's history)."""
    parent: CommitId | None
    """The previous head of ``branch`` when the commit finished; ``None`` for the first."""
    origin: Origin
    description: str = ""
    started: datetime
    finished: datetime | None = None
    """``None`` while the commit is open."""
    size_bytes: int = 0
    """Total bytes of every file in the commit (not just the change)."""
    files: int = 0
    """Number of files in the commit."""
    root: Entry = EMPTY_ROOT
    """The commit's tree."""
    provenance: tuple[CommitRef, ...] = ()
    """The commits this one was computed from (a job's input commits)."""
    error: str | None = None
    """Set when the job that wrote this commit failed; the data is then incomplete."""
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def is_finished(self) -> bool:
        return self.finished is not None

    @property
    def tree(self) -> ObjectId | None:
        return self.root.node

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "repo": self.repo,
            "branch": self.branch,
            "parent": self.parent,
            "origin": self.origin.value,
            "description": self.description,
            "started": format_time(self.started),
            "finished": format_time(self.finished),
            "size_bytes": self.size_bytes,
            "files": self.files,
            "root": self.root.to_json(),
            "provenance": [p.to_json() for p in self.provenance],
            "error": self.error,
            "metadata": self.metadata,
        }

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_json())

    @staticmethod
    def from_json(raw: dict[str, Any]) -> Commit:
        started = parse_time(raw["started"])
        if started is None:
            raise ValueError("a commit record needs a start time")
        return Commit(
            id=CommitId(raw["id"]),
            repo=raw["repo"],
            branch=raw["branch"],
            parent=CommitId(raw["parent"]) if raw.get("parent") else None,
            origin=Origin(raw["origin"]),
            description=raw.get("description", ""),
            started=started,
            finished=parse_time(raw.get("finished")),
            size_bytes=int(raw.get("size_bytes", 0)),
            files=int(raw.get("files", 0)),
            root=Entry.from_json(raw["root"]) if raw.get("root") else EMPTY_ROOT,
            provenance=tuple(CommitRef.from_json(p) for p in raw.get("provenance", [])),
            error=raw.get("error"),
            metadata=dict(raw.get("metadata") or {}),
        )

    @staticmethod
    def from_bytes(data: bytes, what: str) -> Commit:
        try:
            return Commit.from_json(json.loads(data))
        except (ValueError, KeyError, TypeError, AssertionError) as e:
            raise CorruptStore(f"commit record {what} is unreadable: {e}") from e

    def with_tree(self, root: Entry) -> Commit:
        return replace(self, root=root, size_bytes=root.size, files=root.files)
