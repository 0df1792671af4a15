"""Commit records: finished commits, open commits with their stored writes, finish claims.

Finished records are immutable, so they are cached for the life of the store; open records are
shared between processes (any of them may write into or finish an open commit), so they are
always read fresh. Nothing here decides anything about branches: landing a commit and moving a
head is ``commit_ops.py``; this module only keeps the records where ``layout`` says they live.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator

from dagster_versioned.errors import CommitFinished, CommitNotFound
from dagster_versioned.store import layout
from dagster_versioned.store.backend import Backend
from dagster_versioned.store.commits import Commit, CommitId, canonical_json
from dagster_versioned.store.finishing import FinishClaim
from dagster_versioned.store.transaction import Op

_CACHE_LIMIT = 50_000
"""Finished records kept in memory at most (a whole cache is dropped when it is reached)."""


class CommitLog:
    """Reads and writes the commit records of every repo of one store."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._cache: dict[tuple[str, str], Commit] = {}

    # -- finished commits ------------------------------------------------------------------

    def get(self, repo: str, cid: CommitId) -> Commit:
        """The finished commit; ``CommitNotFound`` naming ``repo@cid`` if there is none."""
        cached = self._cache.get((repo, cid))
        if cached is not None:
            return cached
        data = self.backend.read_or_none(layout.commit_record(repo, cid))
        if data is None:
            raise CommitNotFound(f"{repo}@{cid}")
        commit = Commit.from_bytes(data, f"{repo}@{cid}")
        self.remember(commit)
        return commit

    def exists(self, repo: str, cid: CommitId) -> bool:
        return (repo, cid) in self._cache or self.backend.exists(layout.commit_record(repo, cid))

    def write(self, commit: Commit) -> None:
        """Store the record (not yet cached: it becomes a commit of the branch only once a
        ref-log entry names it, and a lost race rewrites it on another parent)."""
        self.backend.write(layout.commit_record(commit.repo, commit.id), commit.to_bytes())

    def remember(self, commit: Commit) -> None:
        """Cache a record known to be final."""
        if len(self._cache) > _CACHE_LIMIT:
            self._cache.clear()
        self._cache[(commit.repo, commit.id)] = commit

    def ids(self, repo: str) -> list[CommitId]:
        """Every finished commit of the repo (one listing)."""
        names = self.backend.listdir(layout.commits_dir(repo))
        return [CommitId(n[:-5]) for n in names if n.endswith(".json")]

    def ancestors(self, commit: Commit) -> Iterator[Commit]:
        """The commit's parents, nearest first."""
        while commit.parent is not None:
            commit = self.get(commit.repo, commit.parent)
            yield commit

    def forget_repo(self, repo: str) -> None:
        """Drop a deleted repo's records from the cache."""
        self._cache = {k: v for k, v in self._cache.items() if k[0] != repo}

    def note_subvenance(self, commit: Commit) -> None:
        """Mark each upstream repo of the commit's provenance, so it refuses to be deleted."""
        for prov in commit.provenance:
            if prov.repo != commit.repo:
                self.backend.write(layout.subvenance(prov.repo, commit.repo), b"")

    # -- open commits ----------------------------------------------------------------------

    def open_id(self, repo: str, branch: str) -> CommitId | None:
        """The id of the branch's open commit, if it has one."""
        data = self.backend.read_or_none(layout.open_branch(repo, branch))
        return CommitId(data.decode()) if data else None

    def open_branches(self, repo: str) -> list[str]:
        """The branches that have an open commit now (one listing of their markers)."""
        return self.backend.listdir(layout.open_branches_dir(repo))

    def open_record(self, repo: str, cid: CommitId) -> Commit | None:
        data = self.backend.read_or_none(layout.open_commit_record(repo, cid))
        return None if data is None else Commit.from_bytes(data, f"{repo}@{cid}")

    def open_records(self, repo: str, branch: str | None) -> list[Commit]:
        """The repo's open commits (those of ``branch`` only, when given)."""
        out = []
        for name in self.backend.listdir(layout.open_commits_dir(repo)):
            if name.endswith(".json"):
                record = self.open_record(repo, CommitId(name[:-5]))
                if record is not None and (branch is None or record.branch == branch):
                    out.append(record)
        return out

    def open(self, commit: Commit) -> bool:
        """Store an open commit and mark its branch; ``False`` if the branch has one already.

        Record first, marker second: a crash in between leaves an open commit that can be
        listed, finished or deleted, never a marker naming a commit that does not exist.
        """
        record = layout.open_commit_record(commit.repo, commit.id)
        self.backend.write(record, commit.to_bytes())
        if self.backend.create(layout.open_branch(commit.repo, commit.branch), commit.id.encode()):
            return True
        self.backend.delete(record)
        return False

    def unmark(self, record: Commit) -> None:
        """Remove the branch's open-commit marker, only if it still names ``record``."""
        if self.open_id(record.repo, record.branch) == record.id:
            self.backend.delete(layout.open_branch(record.repo, record.branch))

    def add_op(self, repo: str, cid: CommitId, op: Op) -> None:
        """Store one write into an open commit; names sort in the order they were made."""
        name = f"{time.time_ns():020d}-{random.getrandbits(48):012x}.json"
        self.backend.write(f"{layout.open_commit_dir(repo, cid)}/{name}", canonical_json(op))

    def ops(self, record: Commit) -> list[Op]:
        """The writes stored in an open commit, in the order they were made."""
        if self.open_record(record.repo, record.id) is None:
            raise CommitFinished(f"open commit {record.repo}@{record.id} was deleted")
        op_dir = layout.open_commit_dir(record.repo, record.id)
        return [
            json.loads(self.backend.read(f"{op_dir}/{n}")) for n in self.backend.listdir(op_dir)
        ]

    def drop_open(self, record: Commit) -> None:
        """Remove an open commit's files; the branch marker only if it still names it."""
        self.unmark(record)
        self.backend.delete(layout.open_commit_record(record.repo, record.id))
        self.backend.delete_tree(layout.open_commit_dir(record.repo, record.id))
        self.backend.delete(layout.finish_claim(record.repo, record.id))

    def claim(self, record: Commit) -> FinishClaim:
        """The claim finishers of ``record`` race for (``finishing.py``)."""
        return FinishClaim(self.backend, record.repo, record.id)


__all__ = ["CommitLog"]
