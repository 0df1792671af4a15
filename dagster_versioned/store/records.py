"""The records the store's read operations return (repos, branches, files, diffs)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from dagster_versioned.store.commits import Commit, CommitId
from dagster_versioned.store.triggers import Trigger


@dataclass(frozen=True, slots=True, kw_only=True)
class RepoInfo:
    """A repo as ``list repo`` and ``inspect repo`` show it."""

    name: str
    created: datetime
    description: str = ""
    size_bytes: int = 0
    """Size of the master branch's head, as Pachyderm's ``SIZE (MASTER)``."""
    branches: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class BranchInfo:
    """A branch as ``list branch`` and ``inspect branch`` show it."""

    repo: str
    name: str
    head: CommitId | None
    trigger: Trigger | None = None
    created: datetime
    updated: datetime
    seq: int
    """The branch's ref-log position: increases by one for every change to the branch."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FileInfo:
    """A file or directory in a commit."""

    path: str
    type: Literal["file", "dir"]
    size: int
    hash: str
    """Content hash; equal content, equal hash (for directories, the tree node)."""
    commit: CommitId
    repo: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FileDiff:
    """One file that differs between two commits."""

    path: str
    op: Literal["added", "removed", "changed"]
    old_size: int | None
    new_size: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class CommitSet:
    """Every commit sharing one global id, across repos."""

    id: CommitId
    commits: tuple[Commit, ...]
    created: datetime
    modified: datetime
