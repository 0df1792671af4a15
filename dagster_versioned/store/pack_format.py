"""The pack format: many small objects stored as one immutable, content-addressed object.

A commit of 10,000 small files would otherwise write 10,000 objects: on local disk that is
10,000 file creations (no faster than ``cp``), on S3 10,000 PUTs. Like Pachyderm's chunk
storage, small new objects of one batch are written back to back into one *pack*, named by the
BLAKE3 hash of its bytes (``packs/<64 hex>.pack``), so the pack is immutable like any object.

Layout (integers little-endian)::

    b"DVPACK1\\n"                               magic header, 8 bytes
    object bytes, back to back                  in the order they were written
    index: count x (oid 32 raw bytes, u64 offset, u32 length), sorted by oid
    footer: u64 index offset, u32 count, b"DVPKEND1"   20 bytes

A reader needs only the tail (footer and index): one suffix range read for packs of up to
``TAIL_READ / ENTRY_SIZE`` objects, two for larger ones. A truncated pack, or one whose index
points outside its data, is a ``CorruptObject`` naming it (``oid``: the pack's hash); fsck also
checks the index order and every object's hash. This module encodes and decodes bytes only;
``packs.py`` finds packs in a store and answers which one holds an object.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import blake3

from dagster_versioned.errors import CorruptObject
from dagster_versioned.store.layout import pack_key

HEADER = b"DVPACK1\n"
FOOTER_MAGIC = b"DVPKEND1"
_ENTRY = struct.Struct("<32sQI")
_FOOTER = struct.Struct("<QI8s")
ENTRY_SIZE = _ENTRY.size
FOOTER_SIZE = _FOOTER.size
TAIL_READ = 64 * 1024
"""Bytes read from a pack's end at first: the footer and, for most packs, the whole index."""
ReadRange = Callable[[int, int], bytes]


@dataclass(frozen=True, slots=True)
class PackEntry:
    """Where one object lives inside a pack."""

    oid: str
    """The object's id (64 lowercase hex digits)."""
    offset: int
    """Byte offset of the object in the pack."""
    length: int
    """The object's length in bytes."""


TREE_SUFFIX = ".tree"
"""Packs of tree nodes are named ``<hash>.tree``: every operation reads tree nodes, few read
file contents, so a cold reader looking for a node reads only these packs' indexes."""


def pack_name(filename: str) -> str | None:
    """The pack name of a file name in ``packs/`` (``<64 hex>`` or ``<64 hex>.tree``), or
    ``None`` for anything else."""
    if not filename.endswith(".pack"):
        return None
    name = filename[: -len(".pack")]
    digest = name.removesuffix(TREE_SUFFIX)
    return name if len(digest) == 64 else None


def is_tree_pack(name: str) -> bool:
    return name.endswith(TREE_SUFFIX)


def pack_digest(name: str) -> str:
    """The BLAKE3 hash a pack's bytes must have: its name without the ``.tree`` suffix."""
    return name.removesuffix(TREE_SUFFIX)


Row = tuple[bytes, int, int]
"""One index entry as stored: raw 32-byte oid, offset, length."""


def encode_pack(
    objects: list[tuple[str, bytes]], *, tree: bool = False
) -> tuple[str, bytes, list[Row]]:
    """Encode ``(oid, bytes)`` pairs (distinct oids) as one pack: its name, bytes and index;
    ``tree`` names a pack of tree nodes."""
    parts = [HEADER]
    raw: list[Row] = []
    offset = len(HEADER)
    for oid, data in objects:
        parts.append(data)
        raw.append((bytes.fromhex(oid), offset, len(data)))
        offset += len(data)
    raw.sort()
    parts.extend(_ENTRY.pack(*e) for e in raw)
    parts.append(_FOOTER.pack(offset, len(raw), FOOTER_MAGIC))
    payload = b"".join(parts)
    digest = blake3.blake3(payload).hexdigest()
    return digest + (TREE_SUFFIX if tree else ""), payload, raw


def read_index(name: str, read_tail: Callable[[int], bytes], read: ReadRange) -> list[PackEntry]:
    """Read and check a pack's index with range reads: ``read_tail(n)`` gives the last ``n``
    bytes (fewer if the pack is shorter), ``read(start, end)`` a range."""
    raw, index_offset = read_raw_index(name, read_tail, read)
    return parse_entries(name, raw, index_offset)


def read_raw_index(
    name: str, read_tail: Callable[[int], bytes], read: ReadRange
) -> tuple[bytes, int]:
    """A pack's index as stored, and its offset, checked against the footer."""
    tail = read_tail(TAIL_READ)
    if len(tail) < len(HEADER) + FOOTER_SIZE:
        raise _corrupt(name, f"it is {len(tail)} bytes, too short for a pack")
    index_offset, count, magic = _FOOTER.unpack(tail[-FOOTER_SIZE:])
    if magic != FOOTER_MAGIC:
        raise _corrupt(name, "it has no pack footer (truncated?)")
    index_len = count * ENTRY_SIZE
    whole = len(tail) < TAIL_READ  # the tail is the whole pack: its size is known
    if whole and index_offset + index_len + FOOTER_SIZE != len(tail):
        raise _corrupt(
            name,
            f"its footer does not match its size (truncated?): the footer says "
            f"{index_offset + index_len + FOOTER_SIZE} bytes, the pack has {len(tail)}",
        )
    if index_offset < len(HEADER):
        raise _corrupt(name, f"its index offset {index_offset} is inside the header")
    if index_len + FOOTER_SIZE <= len(tail):
        raw = tail[len(tail) - FOOTER_SIZE - index_len : len(tail) - FOOTER_SIZE]
    else:
        raw = read(index_offset, index_offset + index_len)
        if len(raw) != index_len:
            raise _corrupt(name, f"its index is cut short: {len(raw)} of {index_len} bytes")
    return raw, index_offset


class SortedIndex:
    """A large pack's index as stored (sorted by oid), searched by bisection.

    Decoding costs about half a microsecond per object, on every cold start, whether or not the
    objects are read; a lookup here costs ~14 comparisons. Each hit is bounds-checked when
    found (``locations`` checks every entry up front for the small packs it decodes).
    """

    __slots__ = ("count", "index_offset", "name", "raw")

    def __init__(self, name: str, raw: bytes, index_offset: int) -> None:
        self.name = name
        self.raw = raw
        self.index_offset = index_offset
        self.count = len(raw) // ENTRY_SIZE

    def get(self, oid: bytes) -> tuple[str, int, int] | None:
        raw, low, high = self.raw, 0, self.count
        while low < high:
            mid = (low + high) // 2
            at = mid * ENTRY_SIZE
            probe = raw[at : at + 32]
            if probe < oid:
                low = mid + 1
            elif probe > oid:
                high = mid
            else:
                _, offset, length = _ENTRY.unpack_from(raw, at)
                if offset < len(HEADER) or offset + length > self.index_offset:
                    raise _corrupt(self.name, _outside(oid, offset, length, self.index_offset))
                return self.name, offset, length
        return None


def locations(name: str, raw: bytes, index_offset: int) -> dict[bytes, tuple[str, int, int]]:
    """Raw oid -> ``(name, offset, length)`` for an index: the fast decoding a reader's first
    lookup pays for every pack (about a microsecond per object), so it checks only bounds."""
    rows = list(_ENTRY.iter_unpack(raw))
    if rows and (
        min(r[1] for r in rows) < len(HEADER) or max(r[1] + r[2] for r in rows) > index_offset
    ):
        oid, offset, length = next(
            r for r in rows if r[1] < len(HEADER) or r[1] + r[2] > index_offset
        )
        raise _corrupt(name, _outside(oid, offset, length, index_offset))
    return {oid: (name, offset, length) for oid, offset, length in rows}


def parse_entries(name: str, raw: bytes, index_offset: int) -> list[PackEntry]:
    """Decode an index and check it: sorted, distinct, every object inside the data area."""
    entries = []
    previous = b""
    for oid, offset, length in _ENTRY.iter_unpack(raw):
        if oid <= previous:
            raise _corrupt(name, "its index is not sorted")
        if offset < len(HEADER) or offset + length > index_offset:
            raise _corrupt(name, _outside(oid, offset, length, index_offset))
        previous = oid
        entries.append(PackEntry(oid.hex(), offset, length))
    return entries


def parse_pack(name: str, payload: bytes) -> list[PackEntry]:
    """Parse a whole pack held in memory (fsck): header, footer and index."""
    if not payload.startswith(HEADER):
        raise _corrupt(name, "it does not start with the pack header")
    entries = read_index(
        name, lambda n: payload[-n:] if n < len(payload) else payload, lambda s, e: payload[s:e]
    )
    if len(payload) >= TAIL_READ:
        index_offset = _FOOTER.unpack(payload[-FOOTER_SIZE:])[0]
        expected = index_offset + len(entries) * ENTRY_SIZE + FOOTER_SIZE
        if expected != len(payload):
            raise _corrupt(
                name,
                f"its footer does not match its size (truncated?): the footer says "
                f"{expected} bytes, the pack has {len(payload)}",
            )
    return entries


def iter_objects(payload: bytes, entries: list[PackEntry]) -> Iterator[tuple[PackEntry, bytes]]:
    """Each object of a parsed pack with its bytes."""
    view = memoryview(payload)
    for entry in entries:
        yield entry, bytes(view[entry.offset : entry.offset + entry.length])


def plan_packs(objects: list[tuple[str, bytes]], max_bytes: int) -> list[list[tuple[str, bytes]]]:
    """Cut objects into groups of at most ``max_bytes`` of object data each (one per pack)."""
    groups: list[list[tuple[str, bytes]]] = [[]]
    size = 0
    for oid, data in objects:
        if groups[-1] and size + len(data) > max_bytes:
            groups.append([])
            size = 0
        groups[-1].append((oid, data))
        size += len(data)
    return [g for g in groups if g]


def _outside(oid: bytes, offset: int, length: int, index_offset: int) -> str:
    return (
        f"object {oid.hex()} lies outside the pack's data: bytes {offset}..{offset + length} "
        f"of a data area {len(HEADER)}..{index_offset}"
    )


def _corrupt(name: str, why: str) -> CorruptObject:
    """A pack whose layout is broken: a pack is an object named by its hash, so this is that
    object's corruption (``got`` is ``None``: only its tail was read, never hashed whole)."""
    key = pack_key(name)
    return CorruptObject(f"pack {key} is corrupt: {why}", oid=pack_digest(name), key=key)
