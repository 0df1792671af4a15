"""The one seam between the store and fsspec.

Every byte the store reads or writes goes through a ``Backend``: keys are ``/``-separated paths
below the store root. The store needs four guarantees from it and nothing more:

* ``write`` replaces a key atomically: a reader sees the old bytes or the new, never a mix;
* ``create`` is exclusive: of two writers creating one key, exactly one gets ``True``;
* ``read`` never answers from a stale listing cache (S3 listings are cached by s3fs);
* errors are builtins (``FileNotFoundError``) or ``StorageError``.

Object stores also fail in passing (5xx, throttling, dropped connections): every fsspec call is
retried within a bound and each retry logged (``retry.py``); once the bound is spent the caller
gets ``StorageUnavailableError``. Credentials never reach a message or a log line.

``LocalBackend`` gets the same guarantees from POSIX (``os.replace``, ``os.link``) at a fraction
of fsspec's per-call cost, which matters when a commit writes 10,000 small objects.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import IO, TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # fsspec is imported only for non-local storage: dvctl must start fast
    import fsspec

from dagster_versioned.errors import StorageError
from dagster_versioned.store.credentials import (
    scrub_credentials,
)
from dagster_versioned.store.retry import RetryPolicy, call_with_retries

# Protocols known to honour ``pipe_file(..., mode="create")`` as an exclusive create.
_EXCLUSIVE_PROTOCOLS = frozenset({"file", "local", "memory", "s3", "s3a"})
Buffer = bytes | bytearray | memoryview
_IO_THREADS = 16
_LOCAL_SPLIT_MIN = 64
"""Local batches this large are written by two threads (see ``LocalBackend.write_missing``)."""
REFRESH_AFTER = 600.0
"""Seconds after which a reused object's age is refreshed (gc's grace must be longer)."""
S3_PROTOCOLS = ("s3", "s3a")
log = logging.getLogger("dagster_versioned.store")
T = TypeVar("T")


@contextlib.contextmanager
def translate_errors(what: str) -> Iterator[None]:
    """Turn a backend's unexpected ``OSError`` into ``StorageError``, naming the operation.

    ``FileNotFoundError`` and ``FileExistsError`` pass through: the store gives them meaning.
    """
    try:
        yield
    except (FileNotFoundError, FileExistsError):
        raise
    except StorageError:
        raise
    except (OSError, RuntimeError, TimeoutError) as e:
        raise StorageError(f"storage error while {what}: {e}") from e


class Backend:
    """Keys below one root of an fsspec filesystem."""

    def __init__(
        self,
        fs: fsspec.AbstractFileSystem | None,
        root: str,
        url: str,
        *,
        retry: RetryPolicy | None = None,
        secret_values: Iterable[str] = (),
    ) -> None:
        self._fs = fs
        self.root = root.rstrip("/")
        self.url = url
        self.retry = retry or RetryPolicy()
        """Bound and pacing of retries of transient failures; settable."""
        self._secrets = tuple(
            sorted({s for s in secret_values if len(s) >= 4}, key=len, reverse=True)
        )
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def scrub(self, text: str) -> str:
        """``text`` without the credentials of the URL or the storage options."""
        text = scrub_credentials(text, self.url)
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _call(self, operation: str, key: str, fn: Callable[[], T]) -> T:
        return call_with_retries(
            fn, operation=operation, key=key, policy=self.retry, scrub=self.scrub
        )

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        """The fsspec filesystem (made on first use where the backend does not need one)."""
        if self._fs is None:
            from fsspec.implementations.local import LocalFileSystem

            self._fs = LocalFileSystem()
        return self._fs

    @property
    def protocol(self) -> str:
        proto = self.fs.protocol
        return proto[0] if isinstance(proto, tuple | list) else str(proto)

    def path(self, key: str) -> str:
        return f"{self.root}/{key}" if key else self.root

    def supports_exclusive_create(self) -> bool:
        return self.protocol in _EXCLUSIVE_PROTOCOLS

    # -- single-key operations -------------------------------------------------------------

    def read(self, key: str) -> bytes:
        # s3fs asks for the size first (a HEAD per read) unless told not to split the read.
        options = {"max_concurrency": 1} if self.protocol in S3_PROTOCOLS else {}

        def call() -> bytes:
            return bytes(self.fs.cat_file(self.path(key), **options))

        return self._call("reading", key, call)

    def read_or_none(self, key: str) -> bytes | None:
        try:
            return self.read(key)
        except FileNotFoundError:
            return None

    def read_range(self, key: str, start: int, end: int | None = None) -> bytes:
        """Bytes ``start`` to ``end`` of ``key``, or with a negative ``start`` and no ``end``
        its last ``-start`` bytes (all of it when shorter): one ranged GET on an object store,
        so a pack's index is read without fetching the pack."""

        def call() -> bytes:
            return bytes(self.fs.cat_file(self.path(key), start=start, end=end))

        return self._call("reading", key, call)

    def exists(self, key: str) -> bool:
        def call() -> bool:
            path = self.path(key)
            self.fs.invalidate_cache(path)
            return bool(self.fs.exists(path))

        return self._call("checking", key, call)

    def write(self, key: str, data: Buffer) -> None:
        payload = data if isinstance(data, bytes) else bytes(data)
        self._call("writing", key, lambda: self.fs.pipe_file(self.path(key), payload))

    def create(self, key: str, data: bytes) -> bool:
        """Create ``key`` only if it does not exist; ``False`` when it already did.

        A create whose response was lost (connection reset after the server stored it) is
        retried and then finds the key taken, by itself. So a taken key is compared with
        ``data``: the same bytes mean this create landed, and it reports ``True``; counting it
        as a lost race would make a commit land twice or report a conflict with itself.
        """

        if self.create_if_missing(key, data):
            return True
        if self.read_or_none(key) == data:
            log.info("creating %s: the key already holds these bytes (an earlier try landed)", key)
            return True
        return False

    def create_if_missing(self, key: str, data: bytes) -> bool:
        """Create an immutable, content-addressed ``key``; ``False`` when it already existed.

        One conditional PUT on an object store. Unlike ``create``, a taken key is not read
        back: whatever is stored under a content-addressed key is these bytes, so "it was
        there" is the whole answer (a retry that finds its own first try says so too, truly).
        """

        def call() -> bool:
            try:
                self.fs.pipe_file(self.path(key), data, mode="create")
            except FileExistsError:
                return False
            return True

        return self._call("creating", key, call)

    def open_read(self, key: str) -> IO[bytes]:
        def call() -> IO[bytes]:
            f: IO[bytes] = self.fs.open(self.path(key), "rb")
            return f

        return self._call("opening", key, call)

    def listdir(self, key: str) -> list[str]:
        """Names directly below ``key`` (files and folders); ``[]`` when it does not exist."""
        path = self.path(key)

        def call() -> list[Any]:
            self.fs.invalidate_cache(path)
            try:
                return list(self.fs.ls(path, detail=False))
            except FileNotFoundError:
                return []

        entries = self._call("listing", key, call)
        names = [str(e).rstrip("/").rsplit("/", 1)[-1] for e in entries]
        return sorted(n for n in names if n)

    def delete(self, key: str) -> None:
        def call() -> None:
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm_file(self.path(key))

        self._call("deleting", key, call)

    def delete_tree(self, key: str) -> None:
        """Delete every key below ``key``.

        On S3, two retried steps (list, then one bulk delete) rather than ``rm(recursive=True)``,
        which is several requests, so that a retry repeats one request, not a chain that fails
        if any link does. Elsewhere ``rm`` also removes the folders (memory keeps them).
        """
        path = self.path(key)
        if self.protocol not in S3_PROTOCOLS:

            def rm_tree() -> None:
                with contextlib.suppress(FileNotFoundError):
                    self.fs.invalidate_cache(path)
                    if self.fs.exists(path):
                        self.fs.rm(path, recursive=True)

            self._call("deleting", key, rm_tree)
            return

        def find() -> list[str]:
            self.fs.invalidate_cache(path)
            try:
                return [str(p) for p in self.fs.find(path)]
            except FileNotFoundError:
                return []

        paths = self._call("listing", key, find)
        if not paths:
            return

        def remove() -> None:
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm(paths)
            self.fs.invalidate_cache(path)

        self._call("deleting", key, remove)

    def size(self, key: str) -> int:
        return self._call("inspecting", key, lambda: int(self.fs.size(self.path(key))))

    def mtime(self, key: str) -> float | None:
        """Modification time in seconds since the epoch, if the backend knows it."""
        path = self.path(key)
        if self.protocol in S3_PROTOCOLS:
            return self._call("inspecting", key, lambda: self._s3_mtime(path))

        def call() -> dict[str, Any] | None:
            self.fs.invalidate_cache(path)
            try:
                info: dict[str, Any] = self.fs.info(path)
            except FileNotFoundError:
                return None
            return info

        info = self._call("inspecting", key, call)
        if info is None:
            return None
        for field in ("mtime", "LastModified", "created"):
            value = info.get(field)
            if value is None:
                continue
            if hasattr(value, "timestamp"):
                return float(value.timestamp())
            return float(value)
        return time.time()  # exists, age unknown: treat as new

    def _s3_mtime(self, path: str) -> float | None:
        """One ``HEAD``: s3fs's ``info`` lists the prefix as well when the key is missing (to
        find a directory), doubling the requests of every new object's existence check."""
        bucket, name, _version = self.fs.split_path(path)
        try:
            head: dict[str, Any] = self.fs.call_s3("head_object", Bucket=bucket, Key=name)
        except FileNotFoundError:
            return None
        modified = head.get("LastModified")
        return float(modified.timestamp()) if modified is not None else time.time()

    # -- batches ---------------------------------------------------------------------------

    @property
    def pool(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(_IO_THREADS, thread_name_prefix="dv-io")
            return self._pool

    def write_missing(self, items: Iterable[tuple[str, bytes]]) -> None:
        """Write immutable, content-addressed keys that are not already stored, concurrently.

        Content addressing makes this idempotent: a key that exists holds these exact bytes,
        so skipping it is the deduplication, and two writers racing write the same bytes.
        """
        batch = list(items)
        if len(batch) <= 1:
            for key, data in batch:
                self.write_if_missing(key, data)
            return
        for _ in self.pool.map(lambda kv: self.write_if_missing(*kv), batch):
            pass

    def remove_stale_temporaries(self, older_than: float) -> int:
        """Object stores write whole objects (no temporaries to leave behind): nothing to do."""
        return 0

    can_copy_local = False
    """Whether ``copy_range_named`` copies in the kernel (local disk only)."""

    def copy_range_named(
        self, fd: int, offset: int, length: int, name: Callable[[Buffer], str]
    ) -> str | None:
        """Store ``length`` bytes of an open local file from ``offset`` under the key that
        ``name`` gives those bytes, unless it exists; returns the key, or ``None`` when the
        file ended before ``length`` bytes (it changed under us: nothing is stored)."""
        data = os.pread(fd, length, offset)
        if len(data) != length:
            return None
        key = name(data)
        self.write_if_missing(key, data)
        return key

    def write_if_missing(self, key: str, data: Buffer) -> None:
        """Write a content-addressed key unless it exists; refresh an old one instead.

        ``gc`` deletes unreferenced objects older than its grace period. A writer that reuses
        such an object for a new commit refreshes its age here, so gc cannot delete it in the
        window before the commit lands (objects over 8 MiB on object stores are not rewritten:
        run gc with a grace period longer than your longest commit).
        """
        mtime = self.mtime(key)
        stale = mtime is not None and time.time() - mtime > REFRESH_AFTER
        if mtime is None or (stale and len(data) <= 8 * 1024 * 1024):
            self.write(key, data)


class LocalBackend(Backend):
    """Local disk through POSIX calls: same guarantees, less overhead per call."""

    def __init__(self, root: str, url: str) -> None:
        super().__init__(None, root, url)
        os.makedirs(self.root, exist_ok=True)
        self._dirs: set[str] = set()

    @property
    def protocol(self) -> str:
        return "file"

    def delete_tree(self, key: str) -> None:
        with translate_errors(f"deleting {key}"), contextlib.suppress(FileNotFoundError):
            shutil.rmtree(self.path(key))
        self._dirs.clear()

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

    def create(self, key: str, data: bytes) -> bool:
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

    def size(self, key: str) -> int:
        with translate_errors(f"inspecting {key}"):
            return os.stat(self.path(key)).st_size

    def mtime(self, key: str) -> float | None:
        try:
            return os.stat(self.path(key)).st_mtime
        except FileNotFoundError:
            return None

    can_copy_local = hasattr(os, "copy_file_range")

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
        objects = self.path("objects")
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
                    done = 0
                    while done < length:
                        n = os.copy_file_range(fd, out.fileno(), length - done, offset + done)
                        if n == 0:  # the source shrank since its size was read
                            return None
                        done += n
                    with (
                        mmap.mmap(out.fileno(), length, access=mmap.ACCESS_READ) as mapped,
                        memoryview(mapped) as view,
                    ):
                        key = name(view)
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
                return key
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)

    def write_if_missing(self, key: str, data: Buffer) -> None:
        mtime = self.mtime(key)
        if mtime is None:
            self.write(key, data)
        elif time.time() - mtime > REFRESH_AFTER:
            with contextlib.suppress(FileNotFoundError):
                os.utime(self.path(key))
