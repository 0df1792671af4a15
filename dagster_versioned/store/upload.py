"""Storing a local directory: one walk, one symlink rule, small files in packs.

``dvctl put file -r``, a datum's ``/pfs/out`` and a grid snapshot all upload a folder. They share
this module so they agree on two things that matter:

- **symlinks**: a link is followed only when it resolves (``os.path.realpath``) to a regular
  file inside the folder or one of the caller's ``allowed`` roots, compared by
  ``os.path.commonpath`` — a string prefix test would also accept a sibling ``out-evil``.
  Symlinked directories are not entered, so a link cannot pull in a tree from elsewhere;
  other special files (fifos, sockets) are skipped. A datum's ``/pfs/out`` is stricter
  (``upload_outputs``): a link to one of the datum's input files is stored by reference (the
  input's entry, no byte read), one into ``out`` by content, and any other is an error naming
  link and target — an output is never silently dropped;
- **small files go in batches**: their bytes are read whole and stored with
  ``put_many``, one pack per batch of new objects, instead of one loose object per file; large
  files stream in chunks (kernel copies on local disk). Each file is opened once (size from
  ``fstat``, bytes from the same descriptor): on a 10,000-file upload the per-file system
  calls are most of the cost.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Protocol

from dagster_versioned.errors import VersionedError
from dagster_versioned.store.objects import ObjectId
from dagster_versioned.store.trees import Entry

SMALL_FILE = 1024 * 1024
"""Files up to this size are read whole and batched; larger ones stream."""
BATCH_BYTES = 32 * 1024 * 1024
BATCH_FILES = 8192
"""Small files are put in batches this large at most: each batch of new ones is one pack, and a
reader's first lookup reads every pack's index, so fewer, larger packs keep that cheap."""


class Uploader(Protocol):
    """What an upload stores objects with (an ``ObjectStore``)."""

    def put_many(self, blobs: list[bytes]) -> list[ObjectId]: ...

    def put_local_file(self, path: str) -> tuple[list[ObjectId], int]: ...


def upload_dir(
    objects: Uploader, local_dir: str | os.PathLike[str], *, allowed: Iterable[Path] = ()
) -> Iterator[tuple[str, Entry]]:
    """Store every file below ``local_dir``; yields ``(relative path, file entry)``, sorted.

    ``allowed`` names further folders a symlink may point into (a datum's inputs, for outputs
    linked to them as Pachyderm allows). Entries come out as their batch is stored, so a
    caller recording them holds at most one batch of bytes.
    """
    root = Path(local_dir)
    return upload_files(objects, root, (rel for rel, _ in walk_local(root, allowed=allowed)))


def upload_files(
    objects: Uploader, root: Path, paths: Iterable[str]
) -> Iterator[tuple[str, Entry]]:
    """Store the files at ``paths`` (relative to ``root``, already chosen by the caller's
    walk, like a project snapshot's ignore rules); yields ``(path, file entry)`` in order."""
    batch: list[tuple[str, bytes]] = []
    batch_bytes = 0
    for rel in paths:
        full = os.path.join(root, rel)
        with open(full, "rb") as f:
            data = None if os.fstat(f.fileno()).st_size > SMALL_FILE else f.read()
        if data is None:
            yield from _flush(objects, batch)  # keep the order of ``paths``
            batch, batch_bytes = [], 0
            chunks, size = objects.put_local_file(full)
            yield rel, file_entry(chunks, size)
            continue
        batch.append((rel, data))
        batch_bytes += len(data)
        if batch_bytes >= BATCH_BYTES or len(batch) >= BATCH_FILES:
            yield from _flush(objects, batch)
            batch, batch_bytes = [], 0
    yield from _flush(objects, batch)


class LinkOutside(VersionedError):
    """A symlink in a datum's output pointing where no output may come from."""

    def __init__(self, link: str, target: str) -> None:
        super().__init__(
            f"output symlink '{link}' points to '{target}', which is neither a file in the "
            "output folder nor one of the datum's input files; copy the file instead"
        )


def upload_outputs(
    objects: Uploader,
    root: Path,
    *,
    inputs: Mapping[str, Entry],
    allowed: Iterable[Path] = (),
    mounted: tuple[str, Path] | None = None,
) -> Iterator[tuple[str, Entry]]:
    """Store a datum's output folder ``root``; yields ``(relative path, file entry)``.

    ``inputs`` maps the real local path of an input file to its stored entry: a link to it
    yields that entry as it is (Pachyderm's shuffle pattern costs no copy). Links resolving
    to a file in ``root`` or ``allowed`` are stored by content; any other raises
    ``LinkOutside``. ``mounted`` is ``("/pfs", local folder)`` when the command saw that folder
    at ``/pfs``: its links name ``/pfs/...``, which only mean something there. Files stored by
    content come first, sorted; links by reference follow.
    """
    real_roots = [os.path.realpath(p) for p in (root, *allowed)]
    read_at: list[tuple[str, str]] = []  # (what upload_files opens: below root or absolute, rel)
    by_reference: list[tuple[str, Entry]] = []
    for rel, full in walk_local(root, allowed=allowed, links=True):
        if not os.path.islink(full):
            read_at.append((rel, rel))
            continue
        target = _resolve(full, mounted)
        entry = inputs.get(target)
        if entry is not None and entry.kind == "file":
            by_reference.append((rel, entry))
        elif os.path.isfile(target) and any(
            os.path.commonpath([r, target]) == r for r in real_roots
        ):
            read_at.append((target, rel))  # by content, read at the resolved file (a /pfs link too)
        else:
            raise LinkOutside(f"/{rel}", os.readlink(full))
    stored = upload_files(objects, root, [path for path, _ in read_at])
    for (_, rel), (_, entry) in zip(read_at, stored, strict=True):
        yield rel, entry
    yield from by_reference


def _resolve(link: str, mounted: tuple[str, Path] | None) -> str:
    """The real path a link names, reading ``/pfs/...`` as the folder mounted there."""
    target = os.readlink(link)
    if mounted is not None:
        at, local = mounted
        if target == at or target.startswith(f"{at}/"):
            target = os.fspath(local) + target[len(at) :]
    return os.path.realpath(os.path.join(os.path.dirname(link), target))


def file_entry(chunks: list[ObjectId], size: int) -> Entry:
    return Entry("file", size, 1, chunks=tuple(chunks))


def _flush(objects: Uploader, batch: list[tuple[str, bytes]]) -> Iterator[tuple[str, Entry]]:
    if not batch:
        return
    oids = iter(objects.put_many([data for _, data in batch if data]))
    for rel, data in batch:
        yield rel, file_entry([next(oids)] if data else [], len(data))


def walk_local(
    root: Path, *, allowed: Iterable[Path] = (), links: bool = False
) -> Iterator[tuple[str, str]]:
    """``(relative path, full path)`` of every file below ``root``, sorted, depth first,
    following the symlink rule of the module docstring; ``links`` yields every symlink that
    is not a directory, for the caller to judge."""
    real_roots = [os.path.realpath(p) for p in (root, *allowed)]
    stack: list[tuple[str, str]] = [(os.fspath(root), "")]
    while stack:
        directory, rel_dir = stack.pop()
        with os.scandir(directory) as it:
            entries = sorted(it, key=lambda e: e.name)
        subdirs = []
        for entry in entries:
            rel = f"{rel_dir}{entry.name}"
            if entry.is_dir(follow_symlinks=False):
                subdirs.append((entry.path, f"{rel}/"))
            elif entry.is_file(follow_symlinks=False) or (
                entry.is_symlink() and (links or _links_inside(entry.path, real_roots))
            ):
                yield rel, entry.path
        stack.extend(reversed(subdirs))


def _links_inside(link: str, real_roots: list[str]) -> bool:
    target = os.path.realpath(link)
    if not os.path.isfile(target):
        return False
    return any(os.path.commonpath([r, target]) == r for r in real_roots)


__all__ = [
    "SMALL_FILE",
    "LinkOutside",
    "Uploader",
    "file_entry",
    "upload_dir",
    "upload_files",
    "upload_outputs",
    "walk_local",
]
