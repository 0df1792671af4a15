"""What every part of the store facade shares: the backend, caches, and ref resolution.

``Store`` is assembled from one mixin per concept (branches, commits, files) over this base;
each mixin module holds one concept's operations, and this module the lookups they all use
(``repo@branch^N`` → commit, commit id → record, path → tree entry).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dagster_versioned.errors import (
    BranchNotFound,
    CommitNotFinished,
    CommitNotFound,
    InvalidRef,
    RepoNotFound,
)
from dagster_versioned.store.backend import Backend
from dagster_versioned.store.commits import (
    Commit,
    CommitId,
)
from dagster_versioned.store.names import (
    Ref,
    parse_ref,
    validate_repo_name,
)
from dagster_versioned.store.objects import ObjectStore
from dagster_versioned.store.records import FileInfo
from dagster_versioned.store.recordstore import RecordStore
from dagster_versioned.store.refs import BranchHead, RefLog
from dagster_versioned.store.revlog import race_backoff
from dagster_versioned.store.transaction import require_entry
from dagster_versioned.store.trees import Entry, TreeStore

_CAS_ATTEMPTS = 200
_REPO_CACHE_SECONDS = 2.0
"""How many times a writer re-reads a branch and retries after losing a compare-and-swap."""


class StoreBase:
    """Backend, object and tree stores, ref log, and the lookups every operation uses."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.objects = ObjectStore(backend)
        self.trees = TreeStore(self.objects)
        self.refs = RefLog(backend)
        self.records = RecordStore(backend)
        """The engines' auxiliary records (jobs, plans, leases, grid jobs): ``recordstore.py``."""
        self._commits: dict[tuple[str, str], Commit] = {}
        self._repos: dict[str, tuple[float, dict[str, Any]]] = {}

    @property
    def local_root(self) -> Path | None:
        """The folder the store lives in when it is on local disk, else ``None`` (so a project
        snapshot can leave a store inside the project out)."""
        return Path(self.backend.root) if self.backend.protocol in ("file", "local") else None

    def _repo_record(self, name: str) -> dict[str, Any]:
        """The repo's record; ``RepoNotFound`` if it does not exist.

        One operation checks its repo several times (``put_file`` → ``commit`` → land), each a
        request on an object store, so a record read in the last ``_REPO_CACHE_SECONDS`` is
        reused. A repo deleted by another process meanwhile is noticed that much later: the
        same race a check-then-write has anyway, a little wider.
        """
        validate_repo_name(name)
        cached = self._repos.get(name)
        if cached is not None and time.monotonic() - cached[0] < _REPO_CACHE_SECONDS:
            return cached[1]
        data = self.backend.read_or_none(f"repos/{name}/repo.json")
        if data is None:
            self._repos.pop(name, None)
            raise RepoNotFound(name)
        record: dict[str, Any] = json.loads(data)
        self._repos[name] = (time.monotonic(), record)
        return record

    def _commit_key(self, repo: str, cid: CommitId) -> str:
        return f"repos/{repo}/commits/{cid}.json"

    def _commit(self, repo: str, cid: CommitId) -> Commit:
        cached = self._commits.get((repo, cid))
        if cached is not None:
            return cached
        data = self.backend.read_or_none(self._commit_key(repo, cid))
        if data is None:
            raise CommitNotFound(f"{repo}@{cid}")
        commit = Commit.from_bytes(data, f"{repo}@{cid}")
        if len(self._commits) > 50_000:
            self._commits.clear()
        self._commits[(repo, cid)] = commit
        return commit

    def ancestors(self, commit: Commit) -> Iterator[Commit]:
        """The commit's parents, nearest first."""
        while commit.parent is not None:
            commit = self._commit(commit.repo, commit.parent)
            yield commit

    def _resolve(self, ref: Ref, *, allow_open: bool = False) -> Commit:
        if ref.base is None:
            raise InvalidRef(
                f"invalid ref '{ref}': name a branch or commit, like {ref.repo}@master"
            )
        self._repo_record(ref.repo)
        if ref.is_commit:
            cid = CommitId(ref.base)
            try:
                commit = self._commit(ref.repo, cid)
            except CommitNotFound:
                record = self._open_commit(ref.repo, cid)
                if record is None:
                    raise
                if not allow_open or ref.ancestors or ref.nth:
                    raise CommitNotFinished(f"commit {ref.repo}@{cid} is still open") from None
                return record
        else:
            entry = self._head_entry(ref.repo, ref.base)
            if entry.head is None:
                raise CommitNotFound(str(ref), f"branch '{ref.base}' has no head")
            commit = self._commit(ref.repo, entry.head)
        if ref.nth is not None:
            chain = [commit, *self.ancestors(commit)]
            if ref.nth > len(chain):
                raise CommitNotFound(str(ref), f"the branch has only {len(chain)} commits")
            return chain[-ref.nth]
        for i in range(ref.ancestors):
            if commit.parent is None:
                raise CommitNotFound(str(ref), f"it has only {i} ancestors")
            commit = self._commit(ref.repo, commit.parent)
        return commit

    def _head_entry(self, repo: str, branch: str) -> BranchHead:
        self._repo_record(repo)
        entry = self.refs.head(repo, branch)
        if entry is None:
            raise BranchNotFound(repo, branch)
        return entry

    def _lookup_entry(self, ref: str) -> tuple[Entry, str]:
        parsed = self._parse(ref)
        path = parsed.path or "/"
        commit = self._resolve(parsed.without_path())
        entry = require_entry(
            self.trees.lookup(commit.root, path), path, str(parsed.without_path())
        )
        return entry, path

    def _info(self, commit: Commit, path: str, entry: Entry) -> FileInfo:
        return FileInfo(
            path=path,
            type=entry.kind,
            size=entry.size,
            hash=entry.hash,
            commit=commit.id,
            repo=commit.repo,
        )

    def _parse(self, ref: str) -> Ref:
        return parse_ref(ref)

    def _branch_ref(self, ref: str) -> Ref:
        parsed = parse_ref(ref, allow_path=False)
        if parsed.base is None or parsed.is_commit or parsed.ancestors or parsed.nth:
            raise InvalidRef(f"invalid ref '{ref}': expected repo@branch")
        return parsed

    @staticmethod
    def _backoff(attempt: int = 0) -> None:
        """Full-jitter exponential backoff for the loser of a race (``revlog.race_backoff``)."""
        race_backoff(attempt)

    def _open_id(self, repo: str, branch: str) -> CommitId | None:
        data = self.backend.read_or_none(f"repos/{repo}/open-branches/{branch}")
        return CommitId(data.decode()) if data else None

    def _open_commit(self, repo: str, cid: CommitId) -> Commit | None:
        data = self.backend.read_or_none(f"repos/{repo}/open-commits/{cid}.json")
        return None if data is None else Commit.from_bytes(data, f"{repo}@{cid}")
