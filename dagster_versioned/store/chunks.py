"""Reading a file's chunks as one stream: what ``Store.open_file``, ``dv://`` files and
``put_stream`` use.

Kept apart from ``objects.py`` (which decides where an object lives: loose or packed) because a
stream over chunks only needs ``get`` and ``size`` of the object store. There is one reader
with seeking, so the checks on what is read (a cut-short chunk is corrupt, not a short file)
hold on every way of reading a file.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING

import blake3

from dagster_versioned.errors import CorruptObject, CorruptStore

if TYPE_CHECKING:
    from dagster_versioned.store.objects import ObjectId, ObjectStore


def read_into(stream: IO[bytes] | io.RawIOBase, view: memoryview) -> int:
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
    a larger one asks the backend for chunk sizes once, on the first seek. The one chunk of a
    file whose size is known is checked against it: a loose object cut short on disk is a
    ``CorruptObject`` rather than a short file. The chunk read last is kept, so ranged reads
    within one chunk (fsspec reads 5 MiB blocks of 16 MiB chunks) fetch it once.
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
        self._held: tuple[int, bytes] | None = None

    def _get(self, index: int) -> bytes:
        """Chunk ``index``'s bytes, checked against the file's size when it is the only one."""
        if self._held is not None and self._held[0] == index:
            return self._held[1]
        oid = self._chunk_ids[index]
        data = self._objects.get(oid)
        if len(self._chunk_ids) == 1 and self._size is not None and len(data) != self._size:
            _wrong_size(oid, data, self._size)
        self._held = (index, data)
        return data

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
            self._buffer = memoryview(self._get(self._next))
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
            data = self._get(self._next)
            self._next += 1
            self._pos += len(data)
            yield data

    def _chunk_offsets(self) -> list[int]:
        if self._offsets is None:
            if len(self._chunk_ids) <= 1:
                sizes = (
                    [self._size or 0]
                    if self._size is not None
                    else [len(self._get(i)) for i in range(len(self._chunk_ids))]
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
            raise ValueError(f"negative seek position {target}: seek to 0 or later")
        index = next((i for i in range(len(self._chunk_ids)) if offsets[i + 1] > target), None)
        if index is None:
            self._next, self._buffer = len(self._chunk_ids), memoryview(b"")
        else:
            data = memoryview(self._get(index))
            self._buffer = data[target - offsets[index] :]
            self._next = index + 1
        self._pos = target
        return target

    def read_range(self, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` of the file (fewer past its end), reading only the chunks
        the range touches."""
        if end <= start:
            return b""
        self.seek(start)
        out = bytearray(end - start)
        filled = read_into(self, memoryview(out))
        del out[filled:]
        return bytes(out)


def _wrong_size(oid: ObjectId, data: bytes, size: int) -> None:
    """Raise for the one chunk of a ``size``-byte file that has ``len(data)`` bytes."""
    got = blake3.blake3(data).hexdigest()
    if got == oid:  # the object is whole: the tree entry holding it is wrong
        raise CorruptStore(
            f"a file of object {oid} records {size} bytes, but the object has {len(data)}"
        )
    short = "is cut short" if len(data) < size else "is too long"
    raise CorruptObject(
        f"object {oid} {short}: it has {len(data)} bytes where its file records {size} "
        f"(its bytes hash to {got}: it does not match its hash)",
        oid=oid,
        got=got,
    )
