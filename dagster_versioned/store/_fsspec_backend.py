"""Any fsspec filesystem as a backend (``memory://`` among them), each call retried if it fails
in passing (``retry.py``).

The guarantees come from the filesystem: ``pipe_file`` writes a whole key, and
``pipe_file(..., mode="create")`` is an exclusive create on the protocols in
``EXCLUSIVE_PROTOCOLS``; on others ``supports_exclusive_create`` is ``False`` and the store is
opened only for a single writer. Listings and info are invalidated before each call, so no
answer comes from fsspec's cache.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from typing import IO, TYPE_CHECKING, Any

from dagster_versioned.store.backend import Backend, Buffer
from dagster_versioned.store.retry import RetryPolicy

if TYPE_CHECKING:
    import fsspec

EXCLUSIVE_PROTOCOLS = frozenset({"file", "local", "memory", "s3", "s3a"})
"""Protocols known to honour ``pipe_file(..., mode="create")`` as an exclusive create."""
IN_PROCESS_PROTOCOLS = frozenset({"file", "local", "memory"})
"""Protocols whose calls are no network requests (everything else counts as an object store)."""


def protocol_of(fs: fsspec.AbstractFileSystem) -> str:
    """The main protocol of ``fs`` (fsspec gives a name or a tuple of aliases)."""
    proto = fs.protocol
    return proto[0] if isinstance(proto, tuple | list) else str(proto)


class FsspecBackend(Backend):
    """Keys below one root of an fsspec filesystem."""

    def __init__(
        self,
        fs: fsspec.AbstractFileSystem,
        root: str,
        url: str,
        *,
        retry: RetryPolicy | None = None,
        secret_values: Iterable[str] = (),
    ) -> None:
        super().__init__(root, url, retry=retry, secret_values=secret_values)
        self._fs = fs
        self._protocol = protocol_of(fs)
        self.supports_exclusive_create = self._protocol in EXCLUSIVE_PROTOCOLS
        self.is_object_store = self._protocol not in IN_PROCESS_PROTOCOLS

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        return self._fs

    @property
    def protocol(self) -> str:
        return self._protocol

    def read(self, key: str) -> bytes:
        return self._call("reading", key, lambda: bytes(self.fs.cat_file(self.path(key))))

    def read_range(self, key: str, start: int, end: int | None = None) -> bytes:
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

    def create_if_missing(self, key: str, data: bytes) -> bool:
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
        """``rm`` removes the folders too (memory keeps empty ones: listings skip nothing)."""
        path = self.path(key)

        def rm_tree() -> None:
            with contextlib.suppress(FileNotFoundError):
                self.fs.invalidate_cache(path)
                if self.fs.exists(path):
                    self.fs.rm(path, recursive=True)

        self._call("deleting", key, rm_tree)

    def size(self, key: str) -> int:
        return self._call("inspecting", key, lambda: int(self.fs.size(self.path(key))))

    def mtime(self, key: str) -> float | None:
        path = self.path(key)

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
