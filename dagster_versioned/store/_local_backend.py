"""Local disk through POSIX calls: the backend guarantees from ``os.replace`` and ``os.link``.

fsspec's local filesystem would give the same guarantees at several times the cost per call,
which matters when a commit writes 10,000 small objects. Every write goes to a temporary file
next to its key first (``<key>.tmp-<random>``), which listings hide and gc removes when a
killed writer leaves one behind.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterable
from typing import IO, TYPE_CHECKING

from dagster_versioned.store.backend import REFRESH_AFTER, Backend, Buffer, translate_errors
from dagster_versioned.store.layout import OBJECTS

if TYPE_CHECKING:
    import fsspec

_LOCAL_SPLIT_MIN = 64
"""Local batches this large are written by two threads (see ``LocalBackend.write_missing``)."""


class LocalBackend(Backend):
    """Local disk through POSIX calls: same guarantees, less overhead per call."""

    supports_exclusive_create = True
    supports_kernel_copy = hasattr(os, "copy_file_range")

    def __init__(self, root: str, url: str) -> None:
        super().__init__(root, url)
        self.local_path = self.root
        os.makedirs(self.root, exist_ok=True)
        self._dirs: set[str] = set()
        self._fs: fsspec.AbstractFileSystem | None = None

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        """fsspec's local filesystem, made on first use (the store itself never needs it)."""
        if self._fs is None:
            from fsspec.implementations.local import LocalFileSystem

            self._fs = LocalFileSystem()
        return self._fs

    @property
    def protocol(self) -> str:
        return "file"

    def _ensure_parent(self, path: str) -> None:
        parent = os.path.dirname(path)
        if parent not in self._dirs:
            os.makedirs(parent, exist_ok=True)
            self._dirs.add(parent)

    def _tmp_write(self, path: str, data: Buffer) -> str:
        self._ensure_parent(path)
        tmp = f"{path}.tmp-{secrets.token_hex(6)}"
        try:
            f = open(tmp, "wb")  # noqa: SIM115 - closed below
        except FileNotFoundError:  # the parent was removed since (delete_tree, another process)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            f = open(tmp, "wb")  # noqa: SIM115
        with f:
            f.write(data)
        return tmp

    def read(self, key: str) -> bytes:
        with translate_errors(f"reading {key}"), open(self.path(key), "rb") as f:
            return f.read()

    def read_range(self, key: str, start: int, end: int | None = None) -> bytes:
        with translate_errors(f"reading {key}"), open(self.path(key), "rb") as f:
            fd = f.fileno()
            if start < 0 or end is None:
                size = os.fstat(fd).st_size
                start, end = (max(0, size + start), size) if start < 0 else (start, size)
            return os.pread(fd, max(0, end - start), start)

    def exists(self, key: str) -> bool:
        return os.path.exists(self.path(key))

    def write(self, key: str, data: Buffer) -> None:
        with translate_errors(f"writing {key}"):
            path = self.path(key)
            tmp = self._tmp_write(path, data)
            os.replace(tmp, path)

    def create_if_missing(self, key: str, data: bytes) -> bool:
        with translate_errors(f"creating {key}"):
            path = self.path(key)
            tmp = self._tmp_write(path, data)
            try:
                os.link(tmp, path)  # atomic and exclusive: the entry appears whole or not at all
            except FileExistsError:
                return False
            finally:
                os.unlink(tmp)
            return True

    def open_read(self, key: str) -> IO[bytes]:
        with translate_errors(f"opening {key}"):
            return open(self.path(key), "rb")

    def listdir(self, key: str) -> list[str]:
        try:
            names = os.listdir(self.path(key))
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(n for n in names if ".tmp-" not in n)

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path(key))

    def delete_tree(self, key: str) -> None:
        with translate_errors(f"deleting {key}"), contextlib.suppress(FileNotFoundError):
            shutil.rmtree(self.path(key))
        self._dirs.clear()

    def size(self, key: str) -> int:
        with translate_errors(f"inspecting {key}"):
            return os.stat(self.path(key)).st_size

    def mtime(self, key: str) -> float | None:
        try:
            return os.stat(self.path(key)).st_mtime
        except FileNotFoundError:
            return None

    def remove_stale_temporaries(self, older_than: float) -> int:
        """Delete ``*.tmp-*`` files left by writers killed between write and rename.

        Listings hide them, so nothing else would ever reclaim them; only files older than
        ``older_than`` seconds go, so a write in progress keeps its temporary file.
        """
        removed = 0
        cutoff = time.time() - older_than
        for dirpath, _dirs, files in os.walk(self.root):
            for name in files:
                if ".tmp-" not in name:
                    continue
                full = os.path.join(dirpath, name)
                with contextlib.suppress(FileNotFoundError):
                    if os.stat(full).st_mtime < cutoff:
                        os.unlink(full)
                        removed += 1
        return removed

    def write_missing(self, items: Iterable[tuple[str, bytes]]) -> None:
        # Local writes are a few syscalls each: a thread per write costs more than it saves,
        # but a large batch split in two halves keeps both cores creating files (the syscalls
        # release the GIL) for two task hand-offs per batch.
        batch = list(items)
        if len(batch) < _LOCAL_SPLIT_MIN:
            for key, data in batch:
                self.write_if_missing(key, data)
            return
        half = self.pool.submit(self._write_missing_serially, batch[1::2])
        try:
            self._write_missing_serially(batch[::2])
        finally:  # never return, even on an error, while the other half still writes
            half.result()

    def _write_missing_serially(self, batch: list[tuple[str, bytes]]) -> None:
        for key, data in batch:
            self.write_if_missing(key, data)

    def write_if_missing(self, key: str, data: Buffer) -> None:
        mtime = self.mtime(key)
        if mtime is None:
            self.write(key, data)
        elif time.time() - mtime > REFRESH_AFTER:
            with contextlib.suppress(FileNotFoundError):
                os.utime(self.path(key))

    def copy_range_named(
        self, fd: int, offset: int, length: int, name: Callable[[Buffer], str]
    ) -> str | None:
        """Copy first, name after: the kernel copies the range into a temporary file in the
        store (``copy_file_range``: no pass of the bytes through Python, a reflink where the
        filesystem has them), then ``name`` hashes that copy through a read-only map.

        The hash is of the very bytes stored, even if the source changes meanwhile, and only
        the store's own temporary file is mapped: a source truncated by another process cannot
        fault the map. Copy and hash release the GIL, so chunks run in parallel on IO threads.
        The object appears by rename, complete; an existing one is kept and its age refreshed.
        """
        if not self.supports_kernel_copy:
            return super().copy_range_named(fd, offset, length, name)
        objects = self.path(OBJECTS)  # the temporary is where the object's folder will be
        with translate_errors("copying a file into the store"):
            if objects not in self._dirs:
                os.makedirs(objects, exist_ok=True)
                self._dirs.add(objects)
            tmp = f"{objects}/copy.tmp-{secrets.token_hex(6)}"
            try:
                try:
                    out = open(tmp, "w+b")  # noqa: SIM115 - closed below
                except FileNotFoundError:  # the folder was removed since (another process)
                    os.makedirs(objects, exist_ok=True)
                    out = open(tmp, "w+b")  # noqa: SIM115
                with out:
                    if not _kernel_copy(fd, out.fileno(), offset, length):
                        return None
                    with (
                        mmap.mmap(out.fileno(), length, access=mmap.ACCESS_READ) as mapped,
                        memoryview(mapped) as view,
                    ):
                        key = name(view)
                self._place(tmp, key)
                return key
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)

    def _place(self, tmp: str, key: str) -> None:
        """Rename a finished temporary into place as ``key``, or refresh an existing key."""
        path = self.path(key)
        mtime = self.mtime(key)
        if mtime is None:
            self._ensure_parent(path)
            try:
                os.replace(tmp, path)
            except FileNotFoundError:  # the object's folder was removed since
                os.makedirs(os.path.dirname(path), exist_ok=True)
                os.replace(tmp, path)
        elif time.time() - mtime > REFRESH_AFTER:  # exists: refresh its age only
            with contextlib.suppress(FileNotFoundError):
                os.utime(path)


def _kernel_copy(src: int, dst: int, offset: int, length: int) -> bool:
    """Copy ``length`` bytes of ``src`` from ``offset`` to ``dst``; ``False`` if ``src`` ended
    first (it shrank since its size was read)."""
    done = 0
    while done < length:
        n = os.copy_file_range(src, dst, length - done, offset + done)
        if n == 0:
            return False
        done += n
    return True
