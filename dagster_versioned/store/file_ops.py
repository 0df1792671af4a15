"""Files: put (one-shot or into the branch's open commit), copy by reference, delete, read,
list, walk, glob and diff."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import IO, Literal

from dagster_versioned.errors import (
    InvalidRef,
    PathNotFound,
)
from dagster_versioned.store.commit_ops import CommitOps
from dagster_versioned.store.commits import (
    Commit,
)
from dagster_versioned.store.globs import compile_glob
from dagster_versioned.store.names import (
    Ref,
)
from dagster_versioned.store.records import FileDiff, FileInfo
from dagster_versioned.store.transaction import CommitWriter, FileData
from dagster_versioned.store.trees import Entry


class FileOps(CommitOps):
    """File operations of ``Store``."""

    def put_file(
        self, ref: str, data: FileData, *, append: bool = False, description: str = ""
    ) -> Commit | None:
        """Write one file (or a local directory) to ``repo@branch:/path``.

        Into the branch's open commit if it has one (returns ``None``); otherwise as a commit of
        its own, origin USER (returned). A missing branch is created.
        """
        parsed = self._parse(ref)
        if parsed.base is None or parsed.is_commit or parsed.ancestors or parsed.nth:
            raise InvalidRef(
                f"invalid ref '{ref}': write to a branch, like {parsed.repo}@master:/path"
            )
        if parsed.path is None:
            raise InvalidRef(
                f"invalid ref '{ref}': give a path after ':', "
                f"like {parsed.repo}@{parsed.base}:/file"
            )
        self._repo_record(parsed.repo)
        if self._open_id(parsed.repo, parsed.base) is not None:
            self.open_writer(ref).put_file(parsed.path, data, append=append)
            return None
        with self.commit(f"{parsed.repo}@{parsed.base}", description=description) as c:
            c.put_file(parsed.path, data, append=append)
        return c.landed

    def _writer_for(self, ref: str) -> tuple[Ref, CommitWriter | None]:
        parsed = self._parse(ref)
        if parsed.base is None or parsed.is_commit or parsed.path is None:
            raise InvalidRef(f"invalid ref '{ref}': expected repo@branch:/path")
        self._repo_record(parsed.repo)
        if self._open_id(parsed.repo, parsed.base) is not None:
            return parsed, self.open_writer(ref)
        return parsed, None

    def copy_file(self, src: str, dst: str) -> Commit | None:
        """Copy ``src`` (any commit, file or directory) to ``dst`` on a branch, by reference."""
        parsed, writer = self._writer_for(dst)
        assert parsed.path is not None
        if writer is not None:
            writer.copy_file(src, parsed.path)
            return None
        with self.commit(f"{parsed.repo}@{parsed.base}") as c:
            c.copy_file(src, parsed.path)
        return c.landed

    def delete_file(self, ref: str) -> Commit | None:
        """Delete a file or directory from a branch (into its open commit, if any)."""
        parsed, writer = self._writer_for(ref)
        assert parsed.path is not None
        self._lookup_entry(ref)
        if writer is not None:
            writer.delete_file(parsed.path)
            return None
        with self.commit(f"{parsed.repo}@{parsed.base}") as c:
            c.delete_file(parsed.path)
        return c.landed

    def open_file(self, ref: str) -> IO[bytes]:
        """A stream of one file's bytes, read chunk by chunk."""
        entry, path = self._lookup_entry(ref)
        if entry.is_dir:
            raise PathNotFound(path, f"{ref} (it is a directory; use list_file)")
        import io

        return io.BufferedReader(self.objects.open_chunks(list(entry.chunks), entry.size), 1 << 20)

    def get_file_to(self, ref: str, dest: str | os.PathLike[str]) -> int:
        """Write one file to the local path ``dest``; returns its size.

        Unlike ``open_file`` and a copy loop, the bytes never pass through Python on local
        disk: the kernel copies each stored chunk into ``dest``.
        """
        entry, path = self._lookup_entry(ref)
        if entry.is_dir:
            raise PathNotFound(path, f"{ref} (it is a directory; use list_file)")
        with open(dest, "wb") as out:
            return self.objects.export_chunks(list(entry.chunks), out)

    def get_file(self, ref: str) -> bytes:
        with self.open_file(ref) as f:
            return f.read()

    def inspect_file(self, ref: str) -> FileInfo:
        parsed = self._parse(ref)
        commit = self._resolve(parsed.without_path())
        entry, path = self._lookup_entry(ref)
        return self._info(commit, path, entry)

    def list_file(self, ref: str) -> list[FileInfo]:
        """The children of a directory (or the file itself), sorted by name."""
        parsed = self._parse(ref)
        commit = self._resolve(parsed.without_path())
        entry, path = self._lookup_entry(ref if parsed.path else f"{ref}:/")
        if not entry.is_dir:
            return [self._info(commit, path, entry)]
        prefix = "" if path == "/" else path
        return [self._info(commit, f"{prefix}/{n}", e) for n, e in self.trees.list_dir(entry)]

    def walk_file(self, ref: str) -> Iterator[FileInfo]:
        """Every file and directory below a path, depth first, sorted."""
        parsed = self._parse(ref)
        commit = self._resolve(parsed.without_path())
        entry, path = self._lookup_entry(ref if parsed.path else f"{ref}:/")
        if not entry.is_dir:
            yield self._info(commit, path, entry)
            return
        for p, e in self.trees.walk(entry, path):
            yield self._info(commit, p, e)

    def glob_file(self, ref: str) -> list[FileInfo]:
        """Files and directories matching a Pachyderm glob (``repo@ref:/*``), sorted by path."""
        commit, matches = self.glob_entries(ref)
        return [self._info(commit, p, e) for p, e in matches]

    def glob_entries(self, ref: str) -> tuple[Commit, list[tuple[str, Entry]]]:
        """The commit and the (path, tree entry) pairs a glob matches: what datums are made of."""
        parsed = self._parse(ref)
        pattern = compile_glob(ref.partition(":")[2] or "/")
        commit = self._resolve(parsed.without_path())
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

    def diff_file(self, new: str, old: str | None = None) -> list[FileDiff]:
        """Files added, removed or changed from ``old`` (default: ``new``'s parent) to ``new``."""
        new_ref = self._parse(new)
        new_commit = self._resolve(new_ref.without_path())
        path = new_ref.path or "/"
        if old is not None:
            old_ref = self._parse(old)
            old_commit: Commit | None = self._resolve(old_ref.without_path())
            old_path = old_ref.path or path
        else:
            parent = new_commit.parent
            old_commit = self._commit(new_commit.repo, parent) if parent else None
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
