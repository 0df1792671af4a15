"""The writes ``dv://`` holds back until a transaction ends, and the commits they become.

Split from :mod:`dagster_versioned.store.fs` so that the fsspec surface (paths, listings, files)
and the commit rules (one commit per branch, one commit id for all of them, nothing if the block
raises) each read in one place.
"""

from __future__ import annotations

import os
from collections import deque
from pathlib import Path
from typing import IO, Any

from fsspec.transaction import Transaction

from dagster_versioned.errors import CommitFinished
from dagster_versioned.store.commits import new_commit_id
from dagster_versioned.store.store import Store
from dagster_versioned.store.transaction import CommitWriter

__all__ = ["Staged", "VersionedTransaction", "commit_staged"]


class Staged:
    """One change waiting for its commit: bytes to write (``data``, or the local file ``local``
    read when the commit is made), a copy by reference of the pinned ref ``source``, or, with
    none of these, a delete."""

    def __init__(
        self,
        repo: str,
        branch: str,
        path: str,
        data: IO[bytes] | None = None,
        *,
        append: bool = False,
        local: str | None = None,
        source: str | None = None,
    ) -> None:
        self.repo, self.branch, self.path, self.data, self.append = repo, branch, path, data, append
        self.local, self.source = local, source

    def staged(self) -> Staged:
        return self

    def apply_alone(self, store: Store) -> None:
        """Make this one change its own commit (or part of the branch's open commit, if any)."""
        ref = f"{self.repo}@{self.branch}:{self.path}"
        if self.source is not None:
            store.copy_file(self.source, ref)
        elif self.local is not None:
            with open(self.local, "rb") as f:
                store.put_file(ref, f, append=self.append)
        elif self.data is not None:
            self.data.seek(0)
            store.put_file(ref, self.data, append=self.append)
        else:
            store.delete_file(ref)

    def apply(self, writer: CommitWriter) -> None:
        if self.source is not None:
            writer.copy_file(self.source, self.path)
        elif self.local is not None:
            with open(self.local, "rb") as f:
                writer.put_file(self.path, f, append=self.append)
        elif self.data is not None:
            self.data.seek(0)
            writer.put_file(self.path, self.data, append=self.append)
        else:
            writer.delete_file(self.path)

    def discard(self) -> None:
        if self.data is not None:
            self.data.close()


class VersionedTransaction(Transaction):  # type: ignore[misc]
    """``with fs.transaction:`` — every write and delete inside lands as one commit per branch."""

    fs: Any
    files: deque[Any]
    into_open = False
    """Set for the implicit commit of one bulk call (``put``, ``cp``...): a branch with an open
    commit (``dvctl start commit``) then takes the writes into it, as each single write would."""

    def complete(self, commit: bool = True) -> None:
        fs: Any = self.fs
        pending: deque[Any] = self.files
        staged: list[Staged] = []
        try:
            while pending:
                staged.append(pending.popleft().staged())
            if commit and staged:
                commit_staged(fs.store, staged, into_open=self.into_open)
        finally:
            for item in staged:
                item.discard()
            while pending:
                pending.popleft().discard()
            fs._intrans = False
            fs._transaction = None
            self.fs = None


def commit_staged(store: Store, staged: list[Staged], *, into_open: bool = False) -> None:
    """One commit per branch, in the order the changes were made, all sharing one commit id
    (with ``into_open``, a branch's open commit instead, if it has one)."""
    groups: dict[tuple[str, str], list[Staged]] = {}
    for item in staged:
        groups.setdefault((item.repo, item.branch), []).append(item)
    commit_id = new_commit_id()
    for (repo, branch), items in groups.items():
        writer = _open_writer(store, f"{repo}@{branch}") if into_open else None
        if writer is not None:
            _apply_all(store, writer, items)
            continue
        with store.commit(f"{repo}@{branch}", commit_id=commit_id, description="dv:// write") as c:
            _apply_all(store, c, items)


def _apply_all(store: Store, writer: CommitWriter, items: list[Staged]) -> None:
    """Apply ``items`` in order; each run of local files (a ``put`` of a tree) is stored with
    ``Store.upload_files``, so small files go into packs as ``dvctl put file -r`` stores them,
    not one object (one request, on S3) per file."""
    i = 0
    while i < len(items):
        if items[i].local is None or items[i].append:
            items[i].apply(writer)
            i += 1
            continue
        j = i
        while j < len(items) and items[j].local is not None and not items[j].append:
            j += 1
        run = items[i:j]
        local = [os.path.abspath(str(item.local)) for item in run]
        uploaded = store.upload_files(Path(os.path.abspath(os.sep)), local)
        for item, (_, entry) in zip(run, uploaded, strict=True):
            writer.put_entry(item.path, entry)
        i = j


def _open_writer(store: Store, ref: str) -> CommitWriter | None:
    try:
        return store.open_writer(ref)
    except CommitFinished:
        return None
