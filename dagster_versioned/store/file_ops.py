"""Files: put (one-shot or into the branch's open commit), copy by reference, delete, read,
list, walk, glob and diff."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from typing import IO, Literal

from dagster_versioned.errors import PathNotFound
from dagster_versioned.store.commit_log import CommitLog
from dagster_versioned.store.commit_ops import Commits
from dagster_versioned.store.commits import Commit
from dagster_versioned.store.globs import compile_glob
from dagster_versioned.store.names import (
    PathRef,
    parse_file_ref,
    parse_path_ref,
    parse_ref,
    parse_rev_ref,
)
from dagster_versioned.store.objects import ObjectStore
from dagster_versioned.store.records import FileDiff, FileInfo
from dagster_versioned.store.repos import Repos
from dagster_versioned.store.resolve import Resolver
from dagster_versioned.store.transaction import CommitWriter, FileData
from dagster_versioned.store.trees import Entry, TreeStore


def file_info(commit: Commit, path: str, entry: Entry) -> FileInfo:
    return FileInfo(
        path=path,
        type=entry.kind,
        size=entry.size,
        hash=entry.hash,
        commit=commit.id,
        repo=commit.repo,
    )


class Files:
    """The file operations of a store."""

    def __init__(
        self,
        objects: ObjectStore,
        trees: TreeStore,
        repos: Repos,
        commit_log: CommitLog,
        resolver: Resolver,
        commits: Commits,
    ) -> None:
        self.objects = objects
        self.trees = trees
        self.repos = repos
        self.commit_log = commit_log
        self.resolver = resolver
        self.commits = commits

    def put(
        self, ref: str, data: FileData, *, append: bool = False, description: str = ""
    ) -> Commit | None:
        """Write one file (or a local directory) to ``repo@branch:/path``.

        Into the branch's open commit if it has one (returns ``None``); otherwise as a commit of
        its own, origin USER (returned). A missing branch is created.
        """
        target, writer = self._writer_for(ref)
        if writer is not None:
            writer.put_file(target.path, data, append=append)
            return None
        with self.commits.commit(str(target.branch_ref), description=description) as c:
            c.put_file(target.path, data, append=append)
        return c.landed

    def _writer_for(self, ref: str) -> tuple[PathRef, CommitWriter | None]:
        """Where a write to ``ref`` goes: the branch's open commit if it has one."""
        target = parse_path_ref(ref)
        self.repos.record(target.repo)
        if self.commit_log.open_id(target.repo, target.branch) is not None:
            return target, self.commits.open_writer(ref)
        return target, None

    def copy(self, src: str, dst: str) -> Commit | None:
        """Copy ``src`` (any commit, file or directory) to ``dst`` on a branch, by reference."""
        target, writer = self._writer_for(dst)
        if writer is not None:
            writer.copy_file(src, target.path)
            return None
        with self.commits.commit(str(target.branch_ref)) as c:
            c.copy_file(src, target.path)
        return c.landed

    def delete(self, ref: str) -> Commit | None:
        """Delete a file or directory from a branch (into its open commit, if any)."""
        target, writer = self._writer_for(ref)
        self.resolver.lookup_entry(ref)
        if writer is not None:
            writer.delete_file(target.path)
            return None
        with self.commits.commit(str(target.branch_ref)) as c:
            c.delete_file(target.path)
        return c.landed

    def open(self, ref: str) -> IO[bytes]:
        """A stream of one file's bytes, read chunk by chunk."""
        entry, path = self.resolver.lookup_entry(ref)
        if entry.is_dir:
            raise PathNotFound(path, f"{ref} (it is a directory; use list_file)")
        return io.BufferedReader(self.objects.open_chunks(list(entry.chunks), entry.size), 1 << 20)

    def get_to(self, ref: str, dest: str | os.PathLike[str]) -> int:
        """Write one file to the local path ``dest``; returns its size.

        Unlike ``open`` and a copy loop, the bytes never pass through Python on local disk:
        the kernel copies each stored chunk into ``dest``.
        """
        entry, path = self.resolver.lookup_entry(ref)
        if entry.is_dir:
            raise PathNotFound(path, f"{ref} (it is a directory; use list_file)")
        with open(dest, "wb") as out:
            return self.objects.export_chunks(list(entry.chunks), out)

    def get(self, ref: str) -> bytes:
        with self.open(ref) as f:
            return f.read()

    def inspect(self, ref: str) -> FileInfo:
        parsed = parse_file_ref(ref)
        commit, entry = self.resolver.lookup(parsed)
        return file_info(commit, parsed.path, entry)

    def list_dir(self, ref: str) -> list[FileInfo]:
        """The children of a directory (or the file itself), sorted by name."""
        parsed = parse_file_ref(ref)
        commit, entry = self.resolver.lookup(parsed)
        if not entry.is_dir:
            return [file_info(commit, parsed.path, entry)]
        prefix = "" if parsed.path == "/" else parsed.path
        return [file_info(commit, f"{prefix}/{n}", e) for n, e in self.trees.list_dir(entry)]

    def walk(self, ref: str) -> Iterator[FileInfo]:
        """Every file and directory below a path, depth first, sorted."""
        parsed = parse_file_ref(ref)
        commit, entry = self.resolver.lookup(parsed)
        if not entry.is_dir:
            yield file_info(commit, parsed.path, entry)
            return
        for p, e in self.trees.walk(entry, parsed.path):
            yield file_info(commit, p, e)

    def glob(self, ref: str) -> list[FileInfo]:
        """Files and directories matching a Pachyderm glob (``repo@ref:/*``), sorted by path."""
        commit, matches = self.glob_entries(ref)
        return [file_info(commit, p, e) for p, e in matches]

    def glob_entries(self, ref: str) -> tuple[Commit, list[tuple[str, Entry]]]:
        """The commit and the (path, tree entry) pairs a glob matches: what datums are made of."""
        rev = parse_rev_ref(ref)
        pattern = compile_glob(ref.partition(":")[2] or "/")
        commit = self.resolver.resolve(rev)
        if pattern.matches_root:
            return commit, [("/", commit.root)]
        prefix_entry = self.trees.lookup(commit.root, pattern.prefix)
        if prefix_entry is None:
            return commit, []
        found: list[tuple[str, Entry]] = []
        if pattern.prefix != "/" and pattern.match(pattern.prefix):
            found.append((pattern.prefix, prefix_entry))
        depth = None if pattern.max_depth is None else pattern.max_depth - pattern.prefix_depth
        for p, e in self.trees.walk(prefix_entry, pattern.prefix, max_depth=depth):
            if pattern.match(p):
                found.append((p, e))
        return commit, found

    def diff(self, new: str, old: str | None = None) -> list[FileDiff]:
        """Files added, removed or changed from ``old`` (default: ``new``'s parent) to ``new``."""
        new_ref = parse_file_ref(new)
        new_commit = self.resolver.resolve(new_ref.rev)
        path = new_ref.path
        if old is not None:
            old_commit: Commit | None = self.resolver.resolve(parse_rev_ref(old))
            old_path = parse_ref(old).path or path
        else:
            parent = new_commit.parent
            old_commit = self.commit_log.get(new_commit.repo, parent) if parent else None
            old_path = path
        new_entry = self.trees.lookup(new_commit.root, path)
        old_entry = self.trees.lookup(old_commit.root, old_path) if old_commit else None
        out = []
        for p, a, b in self.trees.diff(old_entry, new_entry, path):
            op: Literal["added", "removed", "changed"] = (
                "changed" if a is not None and b is not None else ("added" if b else "removed")
            )
            out.append(
                FileDiff(
                    path=p, op=op, old_size=a.size if a else None, new_size=b.size if b else None
                )
            )
        return out


__all__ = ["Files", "file_info"]
