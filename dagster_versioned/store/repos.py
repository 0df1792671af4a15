"""Repos: their records, created, inspected, listed and deleted.

Every operation checks its repo first, often several times (``put_file`` → ``commit`` → land),
and on an object store each check is a request, so a record read in the last
``_REPO_CACHE_SECONDS`` is reused. A repo deleted by another process meanwhile is noticed that
much later: the same race a check-then-write has anyway, a little wider.
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

from dagster_versioned.errors import AlreadyExists, CorruptStore, RepoInUse, RepoNotFound
from dagster_versioned.store import layout
from dagster_versioned.store.backend import Backend
from dagster_versioned.store.commit_log import CommitLog
from dagster_versioned.store.commits import canonical_json, format_time, now, parse_time
from dagster_versioned.store.names import validate_repo_name
from dagster_versioned.store.records import RepoInfo
from dagster_versioned.store.refs import RefLog

_REPO_CACHE_SECONDS = 2.0
TRIGGERS_INDEXED = "indexed"
"""A repo record's ``triggers`` value when the repo keeps an index of its triggered branches
(repos made before the index have every branch read instead: ``trigger_engine.py``)."""


class Repos:
    """The repo records of one store."""

    def __init__(self, backend: Backend, refs: RefLog, commit_log: CommitLog) -> None:
        self.backend = backend
        self.refs = refs
        self.commit_log = commit_log
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}

    def record(self, name: str) -> dict[str, Any]:
        """The repo's record; ``RepoNotFound`` if it does not exist."""
        validate_repo_name(name)
        cached = self._cache.get(name)
        if cached is not None and time.monotonic() - cached[0] < _REPO_CACHE_SECONDS:
            return cached[1]
        data = self.backend.read_or_none(layout.repo_record(name))
        if data is None:
            self._cache.pop(name, None)
            raise RepoNotFound(name)
        record: dict[str, Any] = json.loads(data)
        self._cache[name] = (time.monotonic(), record)
        return record

    def names(self) -> list[str]:
        return self.backend.listdir(layout.REPOS)

    def create(self, name: str, description: str = "") -> RepoInfo:
        validate_repo_name(name)
        record = {
            "name": name,
            "created": format_time(now()),
            "description": description,
            "triggers": TRIGGERS_INDEXED,
        }
        if not self.backend.create(layout.repo_record(name), canonical_json(record)):
            raise AlreadyExists(f"repo '{name}' already exists")
        # An entry in the trigger index, so listing it is one request even on S3 (s3fs lists
        # a missing prefix twice).
        self.backend.write(layout.trigger_index(name), b"")
        return self.inspect(name)

    def inspect(self, name: str) -> RepoInfo:
        record = self.record(name)
        master = self.refs.head(name, "master")
        size = self.commit_log.get(name, master.head).size_bytes if master and master.head else 0
        created = parse_time(record["created"])
        if created is None:
            raise CorruptStore(f"repo record {layout.repo_record(name)} has no creation time")
        return RepoInfo(
            name=name,
            created=created,
            description=record.get("description", ""),
            size_bytes=size,
            branches=tuple(h.branch for h in self.refs.heads(name)),
        )

    def infos(self) -> list[RepoInfo]:
        """Every repo, newest first (a repo deleted while listing is left out)."""
        infos = []
        for name in self.names():
            with contextlib.suppress(RepoNotFound):
                infos.append(self.inspect(name))
        return sorted(infos, key=lambda r: r.created, reverse=True)

    def delete(self, name: str, *, force: bool = False) -> None:
        """Delete a repo; refused while another repo's commits have it in their provenance."""
        self.record(name)
        users = [
            r
            for r in self.backend.listdir(layout.subvenance_dir(name))
            if r != name and self.backend.exists(layout.repo_record(r))
        ]
        if users and not force:
            raise RepoInUse(
                f"repo '{name}' is in the provenance of {', '.join(sorted(users))}; "
                "delete those first or pass force"
            )
        self.backend.delete(layout.repo_record(name))
        self._cache.pop(name, None)
        self.backend.delete_tree(layout.repo_dir(name))
        self.commit_log.forget_repo(name)


__all__ = ["TRIGGERS_INDEXED", "Repos"]
