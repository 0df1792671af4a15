"""The one seam between the store and its storage: keys below one root, and what they promise.

Every byte the store reads or writes goes through a ``Backend``; keys are ``/``-separated paths
below the store root. Like zarr's ``Store`` this is a small abstract class: what differs between
storages lives in the concrete backends (``_local_backend.py``: POSIX calls; ``_fsspec_backend.py``:
any fsspec filesystem, memory included; ``_s3_backend.py``: what S3 does differently), and what
the store may assume of a backend is stated once, in ``Backend``'s docstring, and checked for
each shipped backend by ``dagster_versioned.testing.backend_suite``.

Object stores also fail in passing (5xx, throttling, dropped connections): every fsspec call is
retried within a bound and each retry logged (``retry.py``); once the bound is spent the caller
gets ``StorageUnavailableError``. Credentials never reach a message or a log line.
"""

from __future__ import annotations

import abc
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import IO, TYPE_CHECKING, Any, TypeVar

from dagster_versioned.errors import StorageError
from dagster_versioned.store.credentials import scrub_credentials
from dagster_versioned.store.retry import RetryPolicy, call_with_retries

if TYPE_CHECKING:  # fsspec is imported only for non-local storage: dvctl must start fast
    import fsspec

    from dagster_versioned.store._fsspec_backend import FsspecBackend
    from dagster_versioned.store._local_backend import LocalBackend
    from dagster_versioned.store._s3_backend import S3Backend

Buffer = bytes | bytearray | memoryview
IO_THREADS = 16
REFRESH_AFTER = 600.0
"""Seconds after which a reused object's age is refreshed (gc's grace must be longer)."""
S3_PROTOCOLS = ("s3", "s3a")
LARGE_OBJECT = 8 * 1024 * 1024
"""Objects over this size are not rewritten to refresh their age (``write_if_missing``)."""
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


class Backend(abc.ABC):
    """Keys below one root of a storage, with the four guarantees the store is built on.

    1. **Read-your-writes of a key.** Once ``write``, ``create`` or ``delete`` of a key returns,
       every later ``read``/``exists``/``mtime`` of that key, from any process, sees it; no
       answer comes from a cache older than the call (s3fs caches listings and info: they are
       invalidated first).
    2. **Atomic whole-key write.** ``write`` replaces a key's bytes at once: a concurrent reader
       sees the old bytes or the new, never a mix or a prefix.
    3. **Exclusive create.** Of two ``create`` calls of one missing key exactly one returns
       ``True`` and its bytes are stored. A create that is retried after its response was lost
       finds the key holding its own bytes, and that counts as won (``True``), not as a race
       lost to itself. ``supports_exclusive_create`` says whether this holds; a backend without
       it is only opened for a single writer.
    4. **Listing.** ``listdir`` gives the names directly below a key, files and folders, sorted,
       without temporaries; a key written before the call is listed and a deleted one is not.
       The only lag allowed is for keys written or deleted while the listing runs.

    Errors are builtins (``FileNotFoundError`` for a missing key) or ``StorageError``.

    Capability flags say what a backend can do cheaply, so callers ask a flag instead of
    testing a backend's class or protocol.
    """

    local_path: str | None = None
    """The root as a local folder when every key is a plain file below it, else ``None``:
    then a stat or ``utime`` of a key is a system call, cheaper than any request."""
    supports_kernel_copy: bool = False
    """Whether ``copy_range_named`` copies in the kernel and ``open_read`` gives real files
    (so ``os.copy_file_range`` works on them)."""
    supports_exclusive_create: bool = False
    """Whether guarantee 3 holds (exclusive create); branch heads move only by it."""
    is_object_store: bool = False
    """Whether each call is a network request (S3): pack indexes are worth caching on local
    disk, and an object cannot be touched without being rewritten."""

    def __init__(
        self,
        root: str,
        url: str,
        *,
        retry: RetryPolicy | None = None,
        secret_values: Iterable[str] = (),
    ) -> None:
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

    def path(self, key: str) -> str:
        """The backend's own path of ``key`` (a file path on local disk)."""
        return f"{self.root}/{key}" if key else self.root

    @property
    @abc.abstractmethod
    def fs(self) -> fsspec.AbstractFileSystem:
        """The fsspec filesystem the keys live on, for tools and tests (the store itself goes
        through the methods below)."""

    @property
    @abc.abstractmethod
    def protocol(self) -> str:
        """The fsspec protocol, for messages (decide by the flags, not by this)."""

    # -- single keys -----------------------------------------------------------------------

    @abc.abstractmethod
    def read(self, key: str) -> bytes:
        """The bytes of ``key``; ``FileNotFoundError`` if it does not exist."""

    @abc.abstractmethod
    def read_range(self, key: str, start: int, end: int | None = None) -> bytes:
        """Bytes ``start`` to ``end`` of ``key``, or with a negative ``start`` and no ``end``
        its last ``-start`` bytes (all of it when shorter): one ranged GET on an object store,
        so a pack's index is read without fetching the pack."""

    @abc.abstractmethod
    def exists(self, key: str) -> bool: ...

    @abc.abstractmethod
    def write(self, key: str, data: Buffer) -> None:
        """Replace ``key``'s bytes atomically (guarantee 2)."""

    @abc.abstractmethod
    def create_if_missing(self, key: str, data: bytes) -> bool:
        """Create an immutable, content-addressed ``key``; ``False`` when it already existed.

        One conditional PUT on an object store. Unlike ``create``, a taken key is not read
        back: whatever is stored under a content-addressed key is these bytes, so "it was
        there" is the whole answer (a retry that finds its own first try says so too, truly).
        """

    @abc.abstractmethod
    def open_read(self, key: str) -> IO[bytes]: ...

    @abc.abstractmethod
    def listdir(self, key: str) -> list[str]:
        """Names directly below ``key`` (guarantee 4); ``[]`` when it does not exist."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Delete ``key``; deleting a missing key is not an error."""

    @abc.abstractmethod
    def delete_tree(self, key: str) -> None:
        """Delete every key below ``key`` (not ``key + "x"``: a folder, not a prefix)."""

    @abc.abstractmethod
    def size(self, key: str) -> int: ...

    @abc.abstractmethod
    def mtime(self, key: str) -> float | None:
        """Modification time in seconds since the epoch; ``None`` if the key does not exist."""

    def read_or_none(self, key: str) -> bytes | None:
        try:
            return self.read(key)
        except FileNotFoundError:
            return None

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

    # -- batches and content-addressed objects ---------------------------------------------

    @property
    def pool(self) -> ThreadPoolExecutor:
        """Threads for concurrent calls (one pool per backend, made on first use)."""
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(IO_THREADS, thread_name_prefix="dv-io")
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

    def write_if_missing(self, key: str, data: Buffer) -> None:
        """Write a content-addressed key unless it exists; refresh an old one instead.

        ``gc`` deletes unreferenced objects older than its grace period. A writer that reuses
        such an object for a new commit refreshes its age here, so gc cannot delete it in the
        window before the commit lands (objects over 8 MiB on object stores are not rewritten:
        run gc with a grace period longer than your longest commit).
        """
        mtime = self.mtime(key)
        stale = mtime is not None and time.time() - mtime > REFRESH_AFTER
        if mtime is None or (stale and len(data) <= LARGE_OBJECT):
            self.write(key, data)

    def remove_stale_temporaries(self, older_than: float) -> int:
        """Delete temporaries of writers killed mid-write, older than ``older_than`` seconds;
        backends that write whole objects leave none (``0``)."""
        return 0

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


_CONCRETE = {
    "LocalBackend": "dagster_versioned.store._local_backend",
    "FsspecBackend": "dagster_versioned.store._fsspec_backend",
    "S3Backend": "dagster_versioned.store._s3_backend",
}


def __getattr__(name: str) -> Any:
    """The concrete backends, importable from here as before, loaded on first use (so that
    importing ``Backend`` never imports fsspec)."""
    module = _CONCRETE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "REFRESH_AFTER",
    "S3_PROTOCOLS",
    "Backend",
    "Buffer",
    "FsspecBackend",
    "LocalBackend",
    "S3Backend",
    "translate_errors",
]
