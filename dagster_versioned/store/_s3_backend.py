"""What S3 (through s3fs) does differently from other fsspec filesystems.

Each call is one or more HTTP requests, so the S3 backend spends as few as it can: a read is one
GET (s3fs would first ask the size), an age is one HEAD (s3fs's ``info`` of a missing key also
lists the prefix), and deleting a folder is one listing plus one bulk delete, so that a retry
repeats a single request rather than a chain that fails if any link does.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from dagster_versioned.store._fsspec_backend import FsspecBackend


class S3Backend(FsspecBackend):
    """Keys below one prefix of an S3 bucket (``s3://bucket/prefix``)."""

    def read(self, key: str) -> bytes:
        # s3fs asks for the size first (a HEAD per read) unless told not to split the read.
        def call() -> bytes:
            return bytes(self.fs.cat_file(self.path(key), max_concurrency=1))

        return self._call("reading", key, call)

    def delete_tree(self, key: str) -> None:
        path = self.path(key)

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

    def mtime(self, key: str) -> float | None:
        """One ``HEAD``: s3fs's ``info`` lists the prefix as well when the key is missing (to
        find a directory), doubling the requests of every new object's existence check."""
        path = self.path(key)

        def call() -> float | None:
            bucket, name, _version = self.fs.split_path(path)
            try:
                head: dict[str, Any] = self.fs.call_s3("head_object", Bucket=bucket, Key=name)
            except FileNotFoundError:
                return None
            modified = head.get("LastModified")
            return float(modified.timestamp()) if modified is not None else time.time()

        return self._call("inspecting", key, call)
