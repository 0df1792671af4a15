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
from concurrent.futures import Future
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from dagster_versioned.errors import InvalidPath
from dagster_versioned.store.names import normalize_path
from dagster_versioned.store.objects import CHUNK_SIZE, ObjectId, ObjectStore
from dagster_versioned.store.trees import Changes, Entry, TreeStore
from dagster_versioned.store.upload import upload_dir

if TYPE_CHECKING:
    from dagster_versioned.store.commits import Commit

Op = dict[str, Any]
FileData = bytes | bytearray | memoryview | str | IO[bytes] | os.PathLike[str]
_MAX_PENDING_BYTES = 64 * 1024 * 1024


class WriterContext(Protocol):
    """What a ``CommitWriter`` reads through: where file bytes go, and how a ``copy_file``
    source is found. Everything else about the commit (its branch, landing) is its owner's."""

    @property
    def objects(self) -> ObjectStore: ...

    def lookup_entry(self, ref: str) -> tuple[Entry, str]:
        """The tree entry at ``repo@ref:/path`` and its normalised path."""
        ...


class CommitWriter:
    """Stages writes into one commit. Get one from ``store.commit(...)``.

    Example::

        with store.commit("images@master", description="add") as c:
            c.put_file("/a.png", b"...")
            c.copy_file("images@staging:/b.png", "/b.png")
            c.delete_file("/old.png")
    """

    def __init__(
        self,
        store: WriterContext,
        repo: str,
        branch: str,
        sink: Callable[[Op], None],
        *,
        deferred: bool = False,
    ) -> None:
        self._store = store
        self.repo = repo
        self.branch = branch
        self._sink = sink
        self.landed: Commit | None = None
        """The finished commit once a ``with store.commit(...)`` block has landed it; reading
        the branch head instead could return a concurrent writer's commit."""
        # Deferred: bytes put into a ``with store.commit(...)`` block are uploaded on IO threads
        # while the block goes on, and ``wait_for_objects`` (called before the commit lands)
        # waits for them, so objects are still stored before any tree or commit names them.
        # Not for open commits: another process may finish those, so their objects must be
        # stored before the op that names them.
        self._deferred = deferred and store.objects.writes_in_background
        self._writes: list[Future[None]] = []
        self._pending_bytes = 0

    def put_file(self, path: str, data: FileData, *, append: bool = False) -> None:
        """Write ``data`` (bytes, text, a binary file object, or a local file or directory)."""
        target = normalize_path(path)
        if isinstance(data, os.PathLike):
            local = Path(data)
            if local.is_dir():
                if append:
                    raise InvalidPath(
                        f"cannot append a directory ({local}) to '{target}': append a file, "
                        "or put the directory without append"
                    )
                self.put_dir(target, local)
                return
            chunks, size = self._store.objects.put_local_file(str(local))
        elif isinstance(data, str | bytes | bytearray | memoryview):
            # A view is stored as it is when the write happens now; one written later, on an
            # IO thread, is copied first, so the caller may reuse its buffer at once.
            raw: bytes | memoryview
            if isinstance(data, str):
                raw = data.encode()
            elif isinstance(data, bytes) or (isinstance(data, memoryview) and not self._deferred):
                raw = data
            else:
                raw = bytes(data)
            # Cut like a stream (``CHUNK_SIZE`` pieces): the same bytes have one hash and
            # one set of chunks however they arrive.
            chunks = [
                self._put_bytes(raw if len(raw) <= CHUNK_SIZE else raw[i : i + CHUNK_SIZE])
                for i in range(0, len(raw), CHUNK_SIZE)
            ]
            size = len(raw)
        else:
            chunks, size = self._store.objects.put_stream(data)
        self._put_chunks(target, chunks, size, append=append)

    def _put_bytes(self, raw: bytes | memoryview) -> ObjectId:
        if not self._deferred:
            return self._store.objects.put(raw)
        assert isinstance(raw, bytes)  # put_file copied any view: the upload happens later
        if self._pending_bytes + len(raw) > _MAX_PENDING_BYTES:
            self.wait_for_objects()  # bounded memory: at most this much waits for upload
        oid, write = self._store.objects.put_in_background(raw)
        self._writes.append(write)
        self._pending_bytes += len(raw)
        return oid

    def wait_for_objects(self) -> None:
        """Block until every object put so far is stored; raises the first upload's error."""
        writes, self._writes, self._pending_bytes = self._writes, [], 0
        for write in writes:
            write.result()

    def settle_objects(self) -> None:
        """Wait for every upload in flight and ignore their errors: for an abandoned commit,
        whose objects nothing names (gc reclaims any that were stored)."""
        writes, self._writes, self._pending_bytes = self._writes, [], 0
        for write in writes:
            write.exception()

    def _put_chunks(self, path: str, chunks: list[ObjectId], size: int, *, append: bool) -> None:
        if path == "/":
            raise InvalidPath("cannot write a file at '/': give a file path like '/data.csv'")
        self._sink(
            {"op": "append" if append else "put", "path": path, "chunks": chunks, "size": size}
        )

    def put_dir(self, path: str, local_dir: Path) -> None:
        """Put every file below ``local_dir`` under ``path`` (``upload.py``: small files in
        packs, symlinks followed only to files inside ``local_dir``)."""
        target = normalize_path(path)
        prefix = "" if target == "/" else target
        for rel, entry in upload_dir(self._store.objects, local_dir):
            self._put_chunks(
                normalize_path(f"{prefix}/{rel}"), list(entry.chunks), entry.size, append=False
            )

    def copy_file(self, src: str, path: str) -> None:
        """Copy a file or directory from any commit by reference: no file data is written."""
        entry, src_path = self._store.lookup_entry(src)
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
                raise InvalidPath(
                    f"cannot append to '{path}': it is a directory; append to a file path"
                )
            old_chunks = list(current.chunks) if current is not None else []
            old_size = current.size if current is not None else 0
            changes.set(path, _file(old_chunks + op["chunks"], old_size + op["size"]))
        else:
            raise InvalidPath(f"unknown op {kind!r} for '{path}': expected put, append or delete")
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
