"""Content-addressed objects: file chunks and tree nodes, named by their BLAKE3 hash.

An object is immutable once written, so writing one that exists is skipped (that is the whole
deduplication, across every repo of the store) and any number of writers can race on one key.
Files larger than ``CHUNK_SIZE`` are cut into fixed-size chunks so a 2 GiB file is hashed,
written and read back with bounded memory.
"""

from __future__ import annotations

import io
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future
from typing import IO, NewType

import blake3

from dagster_versioned.errors import CorruptStore
from dagster_versioned.store.backend import Backend, LocalBackend

ObjectId = NewType("ObjectId", str)
"""64 lowercase hex digits: the BLAKE3 hash of the object's bytes."""

CHUNK_SIZE = 16 * 1024 * 1024
_KERNEL_COPY_MIN = 4 * 1024 * 1024
_PARALLEL_HASH_MIN = 1 << 20
_COPIES_IN_FLIGHT = 4
_CREATE_FIRST_MAX = 1 << 20
"""Larger objects are checked for before they are sent: re-sending 16 MiB costs more than a HEAD."""


def hash_bytes(data: bytes | bytearray | memoryview) -> ObjectId:
    """BLAKE3 of ``data``; large inputs use every core (BLAKE3 parallelises within one input)."""
    threads = blake3.blake3.AUTO if len(data) >= _PARALLEL_HASH_MIN else 1
    return ObjectId(blake3.blake3(data, max_threads=threads).hexdigest())


EMPTY_HASH = hash_bytes(b"")


def object_key(oid: ObjectId) -> str:
    return f"objects/{oid[:2]}/{oid}"


class ObjectStore:
    """Puts and gets content-addressed objects through a backend."""

    def __init__(self, backend: Backend, *, verify: bool = False) -> None:
        self.backend = backend
        self.verify = verify
        # On an object store, "write unless stored" as existence check then PUT is two or three
        # requests (s3fs follows a missing key's HEAD with a LIST); a conditional PUT
        # (If-None-Match: *) is one, and most objects a commit writes are new.
        self._create_first = not isinstance(backend, LocalBackend) and (
            backend.supports_exclusive_create()
        )

    def put(self, data: bytes) -> ObjectId:
        oid = hash_bytes(data)
        self._write_new(object_key(oid), data)
        return oid

    def put_many(self, blobs: list[bytes]) -> list[ObjectId]:
        """Put many small objects: hashing in this thread, writing concurrently."""
        oids = [hash_bytes(b) for b in blobs]
        self.write_missing([(object_key(o), b) for o, b in zip(oids, blobs, strict=True)])
        return oids

    @property
    def writes_in_background(self) -> bool:
        """Whether ``put_in_background`` uploads on an IO thread (object stores, not local
        disk, where a write is a few system calls and a thread would cost more)."""
        return self._create_first

    def put_in_background(self, data: bytes) -> tuple[ObjectId, Future[None]]:
        """Hash ``data`` now and store it on an IO thread; the future says when it is stored."""
        oid = hash_bytes(data)
        return oid, self.backend.pool.submit(self._write_new, object_key(oid), data)

    def write_missing(self, items: list[tuple[str, bytes]]) -> None:
        """Write content-addressed objects that are not stored yet (concurrently off local disk)."""
        if not self._create_first:
            self.backend.write_missing(items)
        elif len(items) <= 1:
            for key, data in items:
                self._write_new(key, data)
        else:
            for _ in self.backend.pool.map(lambda kv: self._write_new(*kv), items):
                pass

    def _write_new(self, key: str, data: bytes | memoryview) -> None:
        """Write one object unless stored; an existing one gets its age refreshed if old
        (``Backend.write_if_missing``), so gc cannot take it before the commit lands."""
        created = (
            self._create_first
            and len(data) <= _CREATE_FIRST_MAX
            and self.backend.create_if_missing(key, bytes(data))
        )
        if not created:
            self.backend.write_if_missing(key, data)

    def put_stream(self, stream: IO[bytes]) -> tuple[list[ObjectId], int]:
        """Put a stream as chunks; returns the chunk ids and the total size."""
        chunks: list[ObjectId] = []
        size = 0
        buffer = bytearray(CHUNK_SIZE)  # one buffer for every chunk: memory stays flat
        view = memoryview(buffer)
        while True:
            n = read_into(stream, view)
            if n == 0:
                break
            part = view[:n]
            oid = hash_bytes(part)
            # A local write consumes the bytes at once; other backends may keep what they are
            # given (memory://), so they get a copy.
            self._write_new(object_key(oid), part if self.backend.can_copy_local else bytes(part))
            chunks.append(oid)
            size += n
            if n < CHUNK_SIZE:
                break
        return chunks, size

    def put_local_file(self, path: str) -> tuple[list[ObjectId], int]:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > _KERNEL_COPY_MIN and self.backend.can_copy_local:
                return self._put_local_by_copy(f, size)
            if size <= CHUNK_SIZE:
                data = f.read()
                return ([self.put(data)] if data else []), len(data)
            return self.put_stream(f)

    def _put_local_by_copy(self, f: IO[bytes], size: int) -> tuple[list[ObjectId], int]:
        """Let the kernel copy each chunk into the store and hash the copy there
        (``Backend.copy_range_named``), so a large put runs at the speed of ``cp``.

        The bytes never pass through a Python buffer, and up to ``_COPIES_IN_FLIGHT`` chunks
        are copied and hashed at once on IO threads (both release the GIL): one chunk's hash
        runs while the next is copied. A file that shrinks meanwhile is put as a stream.
        """

        def name(data: bytes | bytearray | memoryview) -> str:
            return object_key(hash_bytes(data))

        fd = f.fileno()
        starts = range(0, size, CHUNK_SIZE)
        in_flight: deque[Future[str | None]] = deque()
        keys: list[str | None] = []
        try:
            for start in starts:
                if len(in_flight) >= _COPIES_IN_FLIGHT:
                    keys.append(in_flight.popleft().result())
                length = min(CHUNK_SIZE, size - start)
                in_flight.append(
                    self.backend.pool.submit(self.backend.copy_range_named, fd, start, length, name)
                )
            while in_flight:
                keys.append(in_flight.popleft().result())
        finally:
            for pending in in_flight:  # an error above: the file stays open until they end
                pending.exception()
        if any(key is None for key in keys):  # the file changed under us
            f.seek(0)
            return self.put_stream(f)
        return [ObjectId(str(key).rsplit("/", 1)[-1]) for key in keys], size

    def get(self, oid: ObjectId) -> bytes:
        try:
            data = self.backend.read(object_key(oid))
        except FileNotFoundError as e:
            raise CorruptStore(f"object {oid} is referenced but missing from the store") from e
        if self.verify and hash_bytes(data) != oid:
            raise CorruptStore(f"object {oid} does not match its hash")
        return data

    def export_chunks(self, chunks: list[ObjectId], out: IO[bytes]) -> int:
        """Write a file's chunks to an open local file; returns the bytes written.

        On local disk the kernel copies each object into ``out`` (``copy_file_range``), so a
        read-back runs at the speed of ``cp``; elsewhere (or with ``verify``) the bytes pass
        through here, one chunk at a time.
        """
        written = 0
        out.flush()
        for oid in chunks:
            if not self.backend.can_copy_local or self.verify:
                data = self.get(oid)
                out.write(data)
                out.flush()
                written += len(data)
                continue
            try:
                src = self.backend.open_read(object_key(oid))
            except FileNotFoundError as e:
                raise CorruptStore(f"object {oid} is referenced but missing from the store") from e
            with src:
                left = os.fstat(src.fileno()).st_size
                while left:
                    n = os.copy_file_range(src.fileno(), out.fileno(), left)
                    if n == 0:
                        raise CorruptStore(f"object {oid} shrank while it was read")
                    left -= n
                    written += n
        return written

    def exists(self, oid: ObjectId) -> bool:
        return self.backend.exists(object_key(oid))

    def open_chunks(self, chunks: list[ObjectId], size: int | None = None) -> ChunkReader:
        return ChunkReader(self, chunks, size)

    def size(self, oid: ObjectId) -> int:
        """An object's length, without reading it where the backend can tell."""
        return self.backend.size(object_key(oid))


def read_into(stream: IO[bytes], view: memoryview) -> int:
    """Fill ``view`` unless the stream ends first; returns the number of bytes read."""
    filled = 0
    readinto = getattr(stream, "readinto", None)
    while filled < len(view):
        if readinto is not None:
            n = readinto(view[filled:])
        else:
            part = stream.read(len(view) - filled)
            n = len(part)
            view[filled : filled + n] = part
        if not n:
            break
        filled += n
    return filled


class ChunkReader(io.RawIOBase):
    """A read-only, seekable stream over a file's chunks, holding one chunk in memory.

    Seeking needs each chunk's offset: a one-chunk file (most files) knows it from its size;
    a larger one asks the backend for chunk sizes once, on the first seek.
    """

    def __init__(
        self, objects: ObjectStore, chunks: list[ObjectId], size: int | None = None
    ) -> None:
        super().__init__()
        self._objects = objects
        self._chunk_ids = chunks
        self._size = size
        self._next = 0  # index of the next chunk to load
        self._pos = 0
        self._buffer = memoryview(b"")
        self._offsets: list[int] | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._buffer:
            if self._next >= len(self._chunk_ids):
                return 0
            self._buffer = memoryview(self._objects.get(self._chunk_ids[self._next]))
            self._next += 1
        n = min(len(b), len(self._buffer))
        b[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        self._pos += n
        return n

    def readall(self) -> bytes:
        # BufferedReader.read() calls this: one join instead of a readinto per 8 KiB.
        return b"".join(self.iter_chunks())

    def iter_chunks(self) -> Iterator[bytes]:
        if self._buffer:
            rest = bytes(self._buffer)
            self._pos += len(rest)
            self._buffer = memoryview(b"")
            yield rest
        while self._next < len(self._chunk_ids):
            data = self._objects.get(self._chunk_ids[self._next])
            self._next += 1
            self._pos += len(data)
            yield data

    def _chunk_offsets(self) -> list[int]:
        if self._offsets is None:
            if len(self._chunk_ids) <= 1:
                sizes = (
                    [self._size or 0]
                    if self._size is not None
                    else [len(self._objects.get(c)) for c in self._chunk_ids]
                )
            else:
                sizes = [self._objects.size(c) for c in self._chunk_ids]
            offsets, total = [], 0
            for size in sizes:
                offsets.append(total)
                total += size
            self._offsets = [*offsets, total]
        return self._offsets

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        offsets = self._chunk_offsets()
        end = offsets[-1]
        target = {io.SEEK_SET: offset, io.SEEK_CUR: self._pos + offset, io.SEEK_END: end + offset}[
            whence
        ]
        if target < 0:
            raise ValueError(f"negative seek position {target}")
        index = next((i for i in range(len(self._chunk_ids)) if offsets[i + 1] > target), None)
        if index is None:
            self._next, self._buffer = len(self._chunk_ids), memoryview(b"")
        else:
            data = memoryview(self._objects.get(self._chunk_ids[index]))
            self._buffer = data[target - offsets[index] :]
            self._next = index + 1
        self._pos = target
        return target
