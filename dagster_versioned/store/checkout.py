"""Writing a stored file or tree to local disk (or any fsspec URL): one way, for every caller.

``dvctl get file -r``, the IO manager's directory inputs, a datum's ``/pfs/<input>``, a grid
snapshot's working copy and a pipeline's egress all need the same thing, and each once had its
own loop, which drifted (one checked for symlinks in the destination, one did not; one copied
through Python where the kernel could). Here:

- **atomic** checkouts build the tree in a hidden sibling and rename it into place, so readers
  sharing a destination (two steps of one run) see no copy or a whole one, never half; a
  destination that already exists is kept as it is — callers name it by content (a tree hash,
  a commit id), so an existing one is the same tree;
- **in-place** checkouts write into an existing folder, refusing any path that would leave it,
  also through a symlink already in the folder;
- file bytes go by ``ObjectStore.export_chunks``: on local disk the kernel copies them
  (``copy_file_range``), elsewhere they stream one chunk at a time.
"""

from __future__ import annotations

import os
import posixpath
import secrets
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol, cast

from dagster_versioned.errors import InvalidPath
from dagster_versioned.store.chunks import ChunkReader
from dagster_versioned.store.objects import ObjectId
from dagster_versioned.store.trees import Entry, TreeStore

_BLOCK = 1 << 20

Copy = Callable[[IO[bytes], IO[bytes], int, str], None]
"""Copies one file's bytes ``(source, destination, size, label)``: how a CLI shows progress."""

Skip = Callable[[str], bool]
"""Given a path relative to the checked-out root (``a/b.txt``), whether to leave it out; a
directory left out is not entered."""


class Content(Protocol):
    """What a checkout reads file bytes with (an ``ObjectStore``)."""

    def export_chunks(self, chunks: list[ObjectId], out: IO[bytes]) -> int: ...

    def open_chunks(self, chunks: list[ObjectId], size: int | None = None) -> ChunkReader: ...


@dataclass(frozen=True, slots=True)
class CheckedOut:
    """Where a checkout put the tree, and what it wrote (``0`` files when it reused a copy)."""

    path: Path
    files: int
    bytes: int


def checkout_entry(
    objects: Content,
    trees: TreeStore,
    entry: Entry,
    dest: str | os.PathLike[str],
    *,
    atomic: bool = True,
    skip: Skip | None = None,
    read_only: bool = False,
    empty_files: bool = False,
    copy: Copy | None = None,
) -> CheckedOut:
    """Write ``entry`` (a file or a directory) at ``dest``.

    ``atomic``: build it beside ``dest`` and rename it into place, or keep an existing
    ``dest``; otherwise write into ``dest`` (created if missing), replacing files of the same
    name. ``read_only`` leaves files ``r--r--r--``, for copies shared by several readers;
    ``empty_files`` writes every file empty (Pachyderm's ``empty_files`` inputs); ``copy``
    replaces the kernel copy by the caller's (a progress bar).
    """
    target = Path(dest)
    writer = _Writer(objects, trees, read_only=read_only, empty_files=empty_files, copy=copy)
    if not atomic:
        if entry.is_dir:
            fresh = not target.exists()  # nothing in it yet, so no symlink to be led through
            _mkdir(target)
            writer.tree(entry, target, skip, checked=not fresh)
        else:
            _mkdir(target.parent)
            writer.file(entry, inside(target.parent, target.name))
        return CheckedOut(target, writer.files, writer.bytes)
    if target.exists():
        return CheckedOut(target, 0, 0)
    _mkdir(target.parent)
    tmp = target.parent / f".{target.name}.tmp-{secrets.token_hex(6)}"
    try:
        if entry.is_dir:
            _mkdir(tmp)
            writer.tree(entry, tmp, skip, checked=False)
        else:
            writer.file(entry, tmp)
        try:
            os.rename(tmp, target)
        except OSError:  # another reader renamed its copy first: it is the same tree
            if not target.exists():
                raise
    finally:
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()
    return CheckedOut(target, writer.files, writer.bytes)


def export_entry(
    objects: Content, trees: TreeStore, entry: Entry, url: str, *, path: str = "/"
) -> int:
    """Copy ``entry`` to an fsspec URL (Pachyderm's egress); returns the files written.

    Local destinations go through ``checkout_entry`` (kernel copies); other filesystems get
    each file streamed with fsspec, chunk by chunk, so no file is held in memory whole.
    """
    import fsspec

    fs, root = fsspec.core.url_to_fs(url)
    if "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)):
        local = Path(root) if entry.is_dir else Path(root) / posixpath.basename(path)
        return checkout_entry(objects, trees, entry, local, atomic=False).files
    root = root.rstrip("/")
    items = trees.walk(entry, path) if entry.is_dir else iter([(path, entry)])
    count = 0
    for item_path, item in items:
        if item.is_dir:
            continue
        rel = posixpath.relpath(item_path, path) if entry.is_dir else posixpath.basename(path)
        dest = f"{root}/{rel}"
        fs.makedirs(posixpath.dirname(dest), exist_ok=True)
        with objects.open_chunks(list(item.chunks), item.size) as src, fs.open(dest, "wb") as out:
            shutil.copyfileobj(src, out, _BLOCK)
        count += 1
    return count


class _Writer:
    """Writes one checkout's files, counting them."""

    def __init__(
        self,
        objects: Content,
        trees: TreeStore,
        *,
        read_only: bool,
        empty_files: bool,
        copy: Copy | None,
    ) -> None:
        self.objects = objects
        self.trees = trees
        self.read_only = read_only
        self.empty_files = empty_files
        self.copy = copy
        self.files = 0
        self.bytes = 0

    def tree(self, entry: Entry, root: Path, skip: Skip | None, *, checked: bool) -> None:
        """Every node below ``entry`` under ``root``; ``checked`` when ``root`` may already
        hold symlinks (an in-place checkout) that a path must not be led through."""
        pruned: list[str] = []
        for path, item in self.trees.walk(entry):
            rel = path.lstrip("/")
            if any(rel.startswith(p) for p in pruned):
                continue
            if skip is not None and skip(rel):
                pruned.append(f"{rel}/")
                continue
            local = inside(root, rel, resolve=checked)
            if item.is_dir:
                if checked and local.is_symlink():
                    local.unlink()  # a folder here, not wherever the link points
                _mkdir(local)
            else:
                self.file(item, local)

    def file(self, entry: Entry, local: Path) -> None:
        if local.is_symlink():
            local.unlink()  # write a file here, not wherever the link points
        with open(local, "wb") as out:
            if not self.empty_files:
                self.bytes += self._copy(entry, out, local.name)
        if self.read_only:
            local.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        self.files += 1

    def _copy(self, entry: Entry, out: IO[bytes], label: str) -> int:
        if self.copy is None:
            return self.objects.export_chunks(list(entry.chunks), out)
        with self.objects.open_chunks(list(entry.chunks), entry.size) as src:
            self.copy(cast(IO[bytes], src), out, entry.size, label)
        return entry.size


def _mkdir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InvalidPath(f"cannot create the folder '{path}': {e.strerror or e}") from e


def inside(root: Path, rel: str, *, resolve: bool = True) -> Path:
    """``root/rel``, refusing a path that leaves ``root`` by ``..`` (a tampered tree) or, with
    ``resolve``, through a symlink already in ``root``."""
    segments = [s for s in rel.split("/") if s]
    if any(s in (".", "..") or os.sep in s or (os.altsep and os.altsep in s) for s in segments):
        raise InvalidPath(f"refusing to write '{rel}': it would leave the output directory {root}")
    target = root.joinpath(*segments)
    if resolve:
        real_root = os.path.realpath(root)
        real_parent = os.path.realpath(target.parent)
        if os.path.commonpath([real_root, real_parent]) != real_root:
            raise InvalidPath(f"refusing to write '{rel}': {target.parent} leads outside {root}")
    return target


__all__ = ["CheckedOut", "Content", "Copy", "Skip", "checkout_entry", "export_entry", "inside"]
