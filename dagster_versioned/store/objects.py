"""Content-addressed objects: file chunks and tree nodes, named by their BLAKE3 hash.

An object is immutable once written, so writing one that exists is skipped (that is the whole
deduplication, across every repo of the store) and any number of writers can race on one key.
Files larger than ``CHUNK_SIZE`` are cut into fixed-size chunks so a 2 GiB file is hashed,
written and read back with bounded memory.

An object is stored *loose* (``objects/<2 hex>/<oid>``) or inside a *pack* (``packs.py``): a
batch of at least ``PACK_MIN_OBJECTS`` new small objects is written as one pack, so a commit of
10,000 small files is one write instead of 10,000 (one PUT on S3). Readers resolve an object
loose or packed, whichever they can tell first, so everything above this module is unchanged.
"""

from __future__ import annotations

import os
import time
from collections import deque
from concurrent.futures import Future
from typing import IO, NewType

import blake3

from dagster_versioned.errors import CorruptObject
from dagster_versioned.store import layout
from dagster_versioned.store.backend import REFRESH_AFTER, Backend
from dagster_versioned.store.chunks import ChunkReader, read_into
from dagster_versioned.store.packs import PackIndex, encode_pack, pack_key, plan_packs

ObjectId = NewType("ObjectId", str)
"""64 lowercase hex digits: the BLAKE3 hash of the object's bytes."""

CHUNK_SIZE = 16 * 1024 * 1024
_KERNEL_COPY_MIN = 4 * 1024 * 1024
_PARALLEL_HASH_MIN = 1 << 20
_COPIES_IN_FLIGHT = 4
_CREATE_FIRST_MAX = 1 << 20
"""Larger objects are checked for before they are sent: re-sending 16 MiB costs more than a HEAD."""
PACK_MIN_OBJECTS = 16
"""A batch with fewer new small objects than this stores them loose: a pack would save little."""
PACK_OBJECT_MAX = 64 * 1024
"""Objects up to this size go into packs; larger ones are stored loose (chunks, big files)."""
PACK_MAX_BYTES = 64 * 1024 * 1024
"""Object bytes per pack at most: a huge batch makes several packs."""


def hash_bytes(data: bytes | bytearray | memoryview) -> ObjectId:
    """BLAKE3 of ``data``; large inputs use every core (BLAKE3 parallelises within one input)."""
    threads = blake3.blake3.AUTO if len(data) >= _PARALLEL_HASH_MIN else 1
    return ObjectId(blake3.blake3(data, max_threads=threads).hexdigest())


EMPTY_HASH = hash_bytes(b"")


def object_key(oid: ObjectId) -> str:
    return layout.object_key(oid)


def check_hash(oid: ObjectId, data: bytes | bytearray | memoryview, key: str | None) -> None:
    """Raise ``CorruptObject`` unless ``data`` (read from ``key``) hashes to ``oid``."""
    got = hash_bytes(data)
    if got != oid:
        where = f" in {key}" if key else ""
        raise CorruptObject(
            f"object {oid}{where} does not match its hash: its {len(data)} bytes hash to {got}",
            oid=oid,
            got=got,
            key=key,
        )


def _cut_short(oid: ObjectId, pack: str, have: int, length: int) -> CorruptObject:
    key = pack_key(pack)
    return CorruptObject(
        f"object {oid} is cut short in {key}: {have} of its {length} bytes are there "
        "(truncated pack?)",
        oid=oid,
        key=key,
    )


class ObjectStore:
    """Puts and gets content-addressed objects through a backend."""

    def __init__(self, backend: Backend, *, verify: bool = False) -> None:
        self.backend = backend
        self.verify = verify
        # On an object store, "write unless stored" as existence check then PUT is two or three
        # requests (s3fs follows a missing key's HEAD with a LIST); a conditional PUT
        # (If-None-Match: *) is one, and most objects a commit writes are new.
        self._create_first = backend.local_path is None and backend.supports_exclusive_create
        self.packs = PackIndex(backend)
        """Where packed objects are; loaded on the first lookup that misses the loose ones."""
        self._fresh_until: dict[str, float] = {}

    def put(self, data: bytes | memoryview) -> ObjectId:
        oid = hash_bytes(data)
        self._write_new(object_key(oid), data)
        return oid

    def put_many(self, blobs: list[bytes]) -> list[ObjectId]:
        """Put many small objects in one batch (``write_batch``): packed when enough are new."""
        oids = [hash_bytes(b) for b in blobs]
        self.write_batch(list(zip(oids, blobs, strict=True)))
        return oids

    def write_batch(self, items: list[tuple[ObjectId, bytes]], *, tree: bool = False) -> None:
        """Store a batch of objects: at least ``PACK_MIN_OBJECTS`` new ones of up to
        ``PACK_OBJECT_MAX`` bytes go into packs, the rest loose (as ``write_missing``).

        Every pack is written whole before this returns, so objects still exist before any tree
        or commit names them. "New" means in no pack read so far and, on local disk (one stat
        each), not loose; object stores are not asked per object (that would cost the requests
        packing saves), so a pack may duplicate a loose object: reads take either, gc both.
        ``tree`` says the batch is tree nodes: they go into tree packs (``packs.TREE_SUFFIX``).
        """
        unique = dict(items)
        small = [(o, d) for o, d in unique.items() if len(d) <= PACK_OBJECT_MAX]
        if len(small) < PACK_MIN_OBJECTS:
            self.write_missing([(object_key(o), d) for o, d in unique.items()])
            return
        loose = [(object_key(o), d) for o, d in unique.items() if len(d) > PACK_OBJECT_MAX]
        new = self._not_stored(small, tree=tree)
        if len(new) < PACK_MIN_OBJECTS:
            loose.extend((object_key(o), d) for o, d in new)
        else:
            for group in plan_packs([(str(o), d) for o, d in new], PACK_MAX_BYTES):
                self._write_pack(group, tree=tree)
        self.write_missing(loose)

    def _not_stored(
        self, small: list[tuple[ObjectId, bytes]], *, tree: bool = False
    ) -> list[tuple[ObjectId, bytes]]:
        """The objects of ``small`` that are not stored (or whose pack gc could soon take);
        tree nodes are looked for in tree packs only (a duplicate elsewhere is harmless)."""
        self.packs.ensure_loaded(trees_only=tree)
        local = self.backend.local_path is not None  # a stat per object is cheap there
        fresh: dict[str, bool] = {}
        new = []
        for oid, data in small:
            hit = self.packs.lookup(oid)
            if hit is not None:
                if hit[0] not in fresh:
                    fresh[hit[0]] = self._refresh_pack(hit[0])
                if fresh[hit[0]]:
                    continue
            elif local:
                key = object_key(oid)
                if self.backend.mtime(key) is not None:
                    self.backend.write_if_missing(key, data)  # exists: refreshes its age if old
                    continue
            new.append((oid, data))
        return new

    def _refresh_pack(self, name: str) -> bool:
        """Make sure gc will not take pack ``name`` before a commit that reuses it lands.

        A pack older than ``REFRESH_AFTER`` gets its age refreshed on local disk (``utime``).
        Object stores cannot touch an object without rewriting it, so there ``False`` says the
        pack is old and the caller stores the reused objects again, in its own new pack: a few
        duplicate bytes, no extra request beyond one ``HEAD`` per old pack per batch.
        """
        now = time.time()
        if self._fresh_until.get(name, 0.0) > now:
            return True
        mtime = self.backend.mtime(pack_key(name))
        if mtime is None:  # gc deleted it since we read its index
            self.packs.forget(name)
            return False
        if now - mtime > REFRESH_AFTER:
            if self.backend.local_path is None:
                return False
            try:
                os.utime(os.path.join(self.backend.local_path, pack_key(name)))
            except FileNotFoundError:
                self.packs.forget(name)
                return False
            mtime = now
        self._fresh_until[name] = mtime + REFRESH_AFTER
        return True

    def _write_pack(self, group: list[tuple[str, bytes]], *, tree: bool = False) -> None:
        """Write one pack whole: a rename into place on local disk, one conditional PUT on an
        object store; a killed writer leaves at most an unreferenced pack (gc takes it)."""
        name, payload, rows = encode_pack(group, tree=tree)
        key = pack_key(name)
        created = self._create_first and self.backend.create_if_missing(key, payload)
        if not created:
            self.backend.write_if_missing(key, payload)
        self.packs.add(name, rows)
        self._fresh_until[name] = time.time() + REFRESH_AFTER

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
            self._write_new(
                object_key(oid), part if self.backend.local_path is not None else bytes(part)
            )
            chunks.append(oid)
            size += n
            if n < CHUNK_SIZE:
                break
        return chunks, size

    def put_local_file(self, path: str) -> tuple[list[ObjectId], int]:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > _KERNEL_COPY_MIN and self.backend.supports_kernel_copy:
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

    def get(self, oid: ObjectId, *, tree: bool = False) -> bytes:
        """An object's bytes; ``tree`` (a tree node) looks in tree packs before the others.

        With ``verify``, bytes that do not hash to ``oid`` raise ``CorruptObject``.
        """
        found = self._read(oid, tree=tree)
        if found is None:
            raise self._missing(oid)
        data, key = found
        if self.verify:
            check_hash(oid, data, key)
        return data

    def read_or_none(self, oid: ObjectId, *, tree: bool = False) -> bytes | None:
        """An object's bytes, loose or packed (unverified), or ``None`` if it is stored nowhere.

        A pack already known to hold it is read at once; otherwise the loose object is tried,
        and only if that misses are the packs (re)listed: another writer may have packed it.
        """
        found = self._read(oid, tree=tree)
        return None if found is None else found[0]

    def _read(self, oid: ObjectId, *, tree: bool = False) -> tuple[bytes, str] | None:
        """``read_or_none`` with the key the bytes came from (the loose object's or a pack's)."""
        hit = self.packs.lookup(oid)
        if hit is not None:
            data = self._read_packed(oid, hit)
            if data is not None:
                return data, pack_key(hit[0])
        key = object_key(oid)
        try:
            return self.backend.read(key), key
        except FileNotFoundError:
            pass
        hit = self.packs.find(oid, tree=tree)
        data = None if hit is None else self._read_packed(oid, hit)
        return None if data is None or hit is None else (data, pack_key(hit[0]))

    def _read_packed(self, oid: ObjectId, hit: tuple[str, int, int]) -> bytes | None:
        name, offset, length = hit
        try:
            data = self.backend.read_range(pack_key(name), offset, offset + length)
        except FileNotFoundError:  # gc deleted the pack: its live objects are elsewhere
            self.packs.forget(name)
            return None
        if len(data) != length:
            raise _cut_short(oid, name, len(data), length)
        return data

    def _missing(self, oid: ObjectId) -> CorruptObject:
        return CorruptObject(
            f"object {oid} is referenced but missing from the store{self.packs.corrupt_note()}",
            oid=oid,
        )

    def export_chunks(self, chunks: list[ObjectId], out: IO[bytes]) -> int:
        """Write a file's chunks to an open local file; returns the bytes written.

        On local disk the kernel copies each object into ``out`` (``copy_file_range``), so a
        read-back runs at the speed of ``cp``; elsewhere (or with ``verify``) the bytes pass
        through here, one chunk at a time.
        """
        written = 0
        out.flush()
        for oid in chunks:
            if not self.backend.supports_kernel_copy or self.verify:
                data = self.get(oid)
                out.write(data)
                out.flush()
                written += len(data)
                continue
            src, offset, left, key = self._open_local(oid)
            with src:
                while left:
                    n = os.copy_file_range(src.fileno(), out.fileno(), left, offset)
                    if n == 0:
                        raise CorruptObject(
                            f"object {oid} shrank while it was read from {key}: its last "
                            f"{left} bytes are gone (cut short)",
                            oid=oid,
                            key=key,
                        )
                    left -= n
                    offset += n
                    written += n
        return written

    def _open_local(self, oid: ObjectId) -> tuple[IO[bytes], int, int, str]:
        """An open file holding ``oid`` on local disk, with the object's offset, length and the
        file's key (resolved like ``read_or_none``: a known pack, else loose, else packs listed
        afresh)."""
        hit = self.packs.lookup(oid)
        opened = None if hit is None else self._open_packed(oid, hit)
        if opened is not None:
            return opened
        key = object_key(oid)
        try:
            src = self.backend.open_read(key)
        except FileNotFoundError:
            hit = self.packs.find(oid)
            opened = None if hit is None else self._open_packed(oid, hit)
            if opened is None:
                raise self._missing(oid) from None
            return opened
        return src, 0, os.fstat(src.fileno()).st_size, key

    def _open_packed(
        self, oid: ObjectId, hit: tuple[str, int, int]
    ) -> tuple[IO[bytes], int, int, str] | None:
        name, offset, length = hit
        key = pack_key(name)
        try:
            src = self.backend.open_read(key)
        except FileNotFoundError:  # gc deleted the pack: its live objects are elsewhere
            self.packs.forget(name)
            return None
        size = os.fstat(src.fileno()).st_size
        if offset + length > size:
            src.close()
            raise _cut_short(oid, name, max(0, size - offset), length)
        return src, offset, length, key

    def exists_many(self, oids: list[ObjectId]) -> list[bool]:
        """``exists`` for each of ``oids``, checked concurrently (one request each on S3)."""
        return list(self.backend.pool.map(self.exists, oids))

    def exists(self, oid: ObjectId) -> bool:
        """Whether ``oid`` is stored, loose or packed."""
        return (
            self.packs.lookup(oid) is not None
            or self.backend.exists(object_key(oid))
            or self.packs.find(oid) is not None
        )

    def open_chunks(self, chunks: list[ObjectId], size: int | None = None) -> ChunkReader:
        return ChunkReader(self, chunks, size)

    def size(self, oid: ObjectId) -> int:
        """An object's length, without reading it (a packed one's is in its pack's index)."""
        hit = self.packs.lookup(oid)
        if hit is not None:
            return hit[2]
        try:
            return self.backend.size(object_key(oid))
        except FileNotFoundError:
            hit = self.packs.find(oid)
        if hit is None:
            raise self._missing(oid)
        return hit[2]
