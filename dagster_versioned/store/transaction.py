"""Writing into a commit: objects are stored at once, the tree is built when it finishes.

A ``CommitWriter`` turns each ``put_file``/``copy_file``/``delete_file`` into an op (a small JSON
record naming a path and the objects or entry it gets). Ops go to a sink: a list in memory for a
``with store.commit(...)`` block, or an op file per write for an open commit shared between
processes. Finishing folds the ops, in order, into ``Changes`` and applies them to the branch
head's tree, so a commit whose base moved meanwhile is simply re-applied to the new head.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from dagster_versioned.errors import InvalidPath, PathNotFound
from dagster_versioned.store.names import join_path, normalize_path
from dagster_versioned.store.objects import ObjectId
from dagster_versioned.store.trees import Changes, Entry, TreeStore

if TYPE_CHECKING:
    from dagster_versioned.store.base import StoreBase
    from dagster_versioned.store.commits import Commit

Op = dict[str, Any]
FileData = bytes | bytearray | memoryview | str | IO[bytes] | os.PathLike[str]
_BATCH_BYTES = 8 * 1024 * 1024
_SMALL_FILE = 1024 * 1024


class CommitWriter:
    """Stages writes into one commit. Get one from ``store.commit(...)``.

    Example::

        with store.commit("images@master", description="add") as c:
            c.put_file("/a.png", b"...")
            c.copy_file("images@staging:/b.png", "/b.png")
            c.delete_file("/old.png")
    """

    def __init__(
        self, store: StoreBase, repo: str, branch: str, sink: Callable[[Op], None]
    ) -> None:
        self._store = store
        self.repo = repo
        self.branch = branch
        self._sink = sink
        self.landed: Commit | None = None
        """The finished commit once a ``with store.commit(...)`` block has landed it; reading
        the branch head instead could return a concurrent writer's commit."""

    def put_file(self, path: str, data: FileData, *, append: bool = False) -> None:
        """Write ``data`` (bytes, text, a binary file object, or a local file or directory)."""
        target = normalize_path(path)
        if isinstance(data, os.PathLike):
            local = Path(data)
            if local.is_dir():
                if append:
                    raise InvalidPath(f"cannot append a directory ({local}) to '{target}'")
                self.put_dir(target, local)
                return
            chunks, size = self._store.objects.put_local_file(str(local))
        elif isinstance(data, str):
            raw = data.encode()
            chunks, size = ([self._store.objects.put(raw)] if raw else []), len(raw)
        elif isinstance(data, bytes | bytearray | memoryview):
            raw = bytes(data)
            chunks, size = ([self._store.objects.put(raw)] if raw else []), len(raw)
        else:
            chunks, size = self._store.objects.put_stream(data)
        self._put_chunks(target, chunks, size, append=append)

    def _put_chunks(self, path: str, chunks: list[ObjectId], size: int, *, append: bool) -> None:
        if path == "/":
            raise InvalidPath("cannot write a file at '/': give a file path like '/data.csv'")
        self._sink(
            {"op": "append" if append else "put", "path": path, "chunks": chunks, "size": size}
        )

    def put_dir(self, path: str, local_dir: Path) -> None:
        """Put every file below ``local_dir`` under ``path``, small files in parallel batches.

        Symlinks are followed only when they point inside ``local_dir``, so a link cannot smuggle
        files from elsewhere on the machine into the repo.
        """
        target = normalize_path(path)
        batch: list[tuple[str, bytes]] = []
        batch_bytes = 0
        for rel, full in _walk_local(local_dir):
            dest = normalize_path(join_path(target, rel)) if target != "/" else normalize_path(rel)
            if full.stat().st_size > _SMALL_FILE:
                chunks, size = self._store.objects.put_local_file(str(full))
                self._put_chunks(dest, chunks, size, append=False)
                continue
            data = full.read_bytes()
            batch.append((dest, data))
            batch_bytes += len(data)
            if batch_bytes >= _BATCH_BYTES or len(batch) >= 512:
                self._flush_small(batch)
                batch, batch_bytes = [], 0
        self._flush_small(batch)

    def _flush_small(self, batch: list[tuple[str, bytes]]) -> None:
        if not batch:
            return
        nonempty = [data for _, data in batch if data]
        oids = iter(self._store.objects.put_many(nonempty))
        for dest, data in batch:
            chunks = [next(oids)] if data else []
            self._put_chunks(dest, chunks, len(data), append=False)

    def copy_file(self, src: str, path: str) -> None:
        """Copy a file or directory from any commit by reference: no file data is written."""
        entry, src_path = self._store._lookup_entry(src)
        target = normalize_path(path)
        if target == "/" and not entry.is_dir:
            raise InvalidPath(f"cannot copy the file '{src_path}' onto '/': give a file path")
        self._sink({"op": "put", "path": target, "entry": entry.to_json()})

    def put_entry(self, path: str, entry: Entry) -> None:
        """Place an existing tree entry (a stored file or directory) at ``path``, by reference."""
        self._sink({"op": "put", "path": normalize_path(path), "entry": entry.to_json()})

    def delete_file(self, path: str) -> None:
        """Delete a file or a whole directory (``/`` empties the commit)."""
        self._sink({"op": "delete", "path": normalize_path(path)})


def _walk_local(root: Path) -> Iterable[tuple[str, Path]]:
    real_root = os.path.realpath(root)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            full = Path(dirpath) / name
            if full.is_symlink():
                target = os.path.realpath(full)
                if os.path.commonpath([real_root, target]) != real_root or not os.path.isfile(
                    target
                ):
                    continue
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            yield rel, full


def fold_ops(ops: Iterable[Op], trees: TreeStore, base: Entry) -> Changes:
    """Fold ops, in order, into one set of changes against the tree ``base``."""
    changes = Changes()
    for op in ops:
        kind, path = op["op"], op["path"]
        if kind == "delete":
            changes.set(path, None)
        elif kind == "put" and "entry" in op:
            changes.set(path, Entry.from_json(op["entry"]))
        elif kind == "put":
            changes.set(path, _file(op["chunks"], op["size"]))
        elif kind == "append":
            current = _current(changes, trees, base, path)
            if current is not None and current.is_dir:
                raise InvalidPath(f"cannot append to '{path}': it is a directory")
            old_chunks = list(current.chunks) if current is not None else []
            old_size = current.size if current is not None else 0
            changes.set(path, _file(old_chunks + op["chunks"], old_size + op["size"]))
        else:
            raise InvalidPath(f"unknown op {kind!r} for '{path}'")
    return changes


def _file(chunks: list[str], size: int) -> Entry:
    return Entry("file", int(size), 1, chunks=tuple(ObjectId(c) for c in chunks))


def _current(changes: Changes, trees: TreeStore, base: Entry, path: str) -> Entry | None:
    """The entry at ``path`` after the changes folded so far."""
    node = changes
    segments = path[1:].split("/")
    for i, seg in enumerate(segments):
        if node.replaced:
            rest = "/" + "/".join(segments[i:])
            return None if node.value is None else trees.lookup(node.value, rest)
        child = node.children.get(seg)
        if child is None:
            return trees.lookup(base, path)
        node = child
    if node.replaced:
        return node.value
    return trees.lookup(base, path)


def require_entry(entry: Entry | None, path: str, ref: str) -> Entry:
    if entry is None:
        raise PathNotFound(path, ref)
    return entry
