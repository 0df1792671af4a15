"""Packs in a store: which pack holds which object, found from the packs' indexes alone.

The pack format (``pack_format.py``) puts each pack's index at its end, so a reader lists
``packs/`` and reads only the tails. Packs are immutable and named by their hash, so an index
read once is valid forever: ``PackIndex`` never reads a pack's index twice, and on an object
store ``IndexCache`` keeps the indexes on local disk for the next process. The format's names
are re-exported here, where most callers look for them.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import struct
import threading

import blake3

from dagster_versioned.errors import CorruptStore
from dagster_versioned.store.backend import Backend
from dagster_versioned.store.layout import PACKS, pack_key
from dagster_versioned.store.pack_format import (
    ENTRY_SIZE,
    FOOTER_MAGIC,
    FOOTER_SIZE,
    HEADER,
    TAIL_READ,
    TREE_SUFFIX,
    PackEntry,
    ReadRange,
    Row,
    SortedIndex,
    encode_pack,
    is_tree_pack,
    iter_objects,
    locations,
    pack_digest,
    pack_name,
    parse_entries,
    parse_pack,
    plan_packs,
    read_index,
    read_raw_index,
)

CACHE_ENV = "DAGSTER_VERSIONED_CACHE"
"""Where pack indexes read from object stores are kept on local disk (``0`` turns it off);
default ``$XDG_CACHE_HOME/dagster_versioned`` or ``~/.cache/dagster_versioned``."""
SORTED_MIN = 2048
"""Packs with this many objects are searched in their stored index rather than decoded: a
cold reader of a 10,000-object pack looks up a few hundred objects, not all of them."""
Location = tuple[str, int, int]
"""``(pack name, offset, length)`` of an object."""


def index_of(name: str, raw: bytes, index_offset: int) -> dict[bytes, Location] | SortedIndex:
    """A pack's stored index as the reader searches it: decoded, or bisected when large."""
    if len(raw) // ENTRY_SIZE >= SORTED_MIN:
        return SortedIndex(name, raw, index_offset)
    return locations(name, raw, index_offset)


def load_index(backend: Backend, name: str) -> list[PackEntry]:
    """The index of pack ``name``, read with one or two range reads of its tail."""
    return parse_entries(name, *_load_raw(backend, name))


def _load_raw(backend: Backend, name: str) -> tuple[bytes, int]:
    key = pack_key(name)
    return read_raw_index(
        name,
        lambda n: backend.read_range(key, -n),
        lambda start, end: backend.read_range(key, start, end),
    )


def index_cache_dir() -> str | None:
    """The local folder of cached pack indexes, or ``None`` when caching is off."""
    configured = os.environ.get(CACHE_ENV)
    if configured == "0":
        return None
    if configured:
        return os.path.join(os.path.expanduser(configured), "pack-indexes")
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "dagster_versioned", "pack-indexes")


class IndexCache:
    """Pack indexes read from an object store, kept on local disk.

    A cold reader of a store with a thousand packs would otherwise send a thousand GETs before
    its first packed read. A pack's name is the hash of its bytes, so its index never changes
    and a cached copy is valid for every store that holds the pack; a cached file is still
    checked like one read from the store, and one that does not check is read again. A cache
    that cannot be written (read-only home, full disk) is skipped, never an error.
    """

    _OFFSET = struct.Struct("<Q")
    _SUM = 16
    """Bytes of BLAKE3 over the cached index: a file altered on local disk is not trusted."""

    def __init__(self, root: str) -> None:
        self.root = root

    def _path(self, name: str) -> str:
        return os.path.join(self.root, name[:2], f"{name}.idx")

    def get(self, name: str) -> tuple[bytes, int] | None:
        try:
            with open(self._path(name), "rb") as f:
                data = f.read()
        except OSError:
            return None
        head = self._OFFSET.size + self._SUM
        raw = data[head:]
        if len(data) < head or data[self._OFFSET.size : head] != self._checksum(raw):
            return None  # cut short or altered: read it from the store again
        return raw, self._OFFSET.unpack_from(data)[0]

    def _checksum(self, raw: bytes) -> bytes:
        return blake3.blake3(raw).digest(length=self._SUM)

    def put(self, name: str, raw: bytes, index_offset: int) -> None:
        path = self._path(name)
        tmp = f"{path}.tmp-{secrets.token_hex(6)}"
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(tmp, "wb") as f:
                f.write(self._OFFSET.pack(index_offset) + self._checksum(raw) + raw)
            os.replace(tmp, path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def list_packs(backend: Backend) -> list[str]:
    """Names of the packs in the store."""
    return [n for n in (pack_name(f) for f in backend.listdir(PACKS)) if n is not None]


class PackIndex:
    """Which pack holds which object: an in-memory map, loaded lazily, refreshed on a miss.

    Loading lists ``packs/`` and reads each pack's tail (the index), never the packs' data.
    Packs are immutable, so a pack read once is never read again: a refresh reads only packs
    that appeared since (another writer packed them), and a pack that fails to parse is
    remembered with its error, which a later "missing object" error quotes.
    """

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._where: dict[bytes, Location] = {}
        self._sorted: list[SortedIndex] = []
        self._known: set[str] = set()
        self._corrupt: dict[str, str] = {}
        self._loaded = False
        self._trees_loaded = False
        self._lock = threading.Lock()
        root = index_cache_dir() if backend.is_object_store else None
        self._cache = IndexCache(root) if root is not None else None

    def lookup(self, oid: str) -> Location | None:
        """``(pack name, offset, length)`` of ``oid`` if a pack read so far holds it."""
        if not self._where and not self._sorted:
            return None
        try:
            key = bytes.fromhex(oid)
        except ValueError:  # not an object id: stored nowhere
            return None
        hit = self._where.get(key)
        if hit is None:
            for index in self._sorted:
                hit = index.get(key)
                if hit is not None:
                    break
        return hit

    def find(self, oid: str, *, tree: bool = False) -> Location | None:
        """``lookup``, reading packs that appeared since the last look first if needed; for a
        ``tree`` node the tree packs first, then (a node may sit in any pack) the rest."""
        hit = self.lookup(oid)
        if hit is None and tree:
            self.refresh(trees_only=True)
            hit = self.lookup(oid)
        if hit is None:
            self.refresh()
            hit = self.lookup(oid)
        return hit

    def ensure_loaded(self, *, trees_only: bool = False) -> None:
        if not (self._loaded or (trees_only and self._trees_loaded)):
            self.refresh(trees_only=trees_only)

    def refresh(self, *, trees_only: bool = False) -> None:
        """Read the index of every pack (or every tree pack) not read yet, concurrently on
        object stores."""
        with self._lock:
            names = [
                n
                for n in list_packs(self.backend)
                if n not in self._known and (is_tree_pack(n) or not trees_only)
            ]
            if len(names) > 1 and self.backend.local_path is None:  # each read waits: overlap
                results = list(self.backend.pool.map(self._read_one, names))
            else:
                results = [self._read_one(n) for n in names]
            for name, result in zip(names, results, strict=True):
                self._known.add(name)
                if isinstance(result, CorruptStore):
                    self._corrupt[name] = str(result)
                elif isinstance(result, SortedIndex):
                    self._sorted.append(result)
                else:
                    self._where.update(result)
            self._trees_loaded = True
            self._loaded = self._loaded or not trees_only

    def _read_one(self, name: str) -> dict[bytes, Location] | SortedIndex | CorruptStore:
        cached = self._cache.get(name) if self._cache is not None else None
        if cached is not None:
            with contextlib.suppress(CorruptStore):
                return index_of(name, *cached)
        try:
            raw, index_offset = _load_raw(self.backend, name)
            found = index_of(name, raw, index_offset)
        except CorruptStore as e:
            return e
        except FileNotFoundError:  # deleted (gc) since it was listed
            return {}
        if self._cache is not None:
            self._cache.put(name, raw, index_offset)
        return found

    def add(self, name: str, rows: list[Row]) -> None:
        """Record a pack this process wrote (its index rows, from ``encode_pack``)."""
        with self._lock:
            self._known.add(name)
            self._where.update({oid: (name, offset, length) for oid, offset, length in rows})

    def forget(self, name: str) -> None:
        """Drop a pack found deleted (gc took it): its objects are looked up afresh."""
        with self._lock:
            self._known.discard(name)
            self._where = {o: hit for o, hit in self._where.items() if hit[0] != name}
            self._sorted = [index for index in self._sorted if index.name != name]

    def corrupt_note(self) -> str:
        """Why objects may be missing: the corrupt packs met so far, or ``""``."""
        return "".join(f" ({message})" for message in self._corrupt.values())


__all__ = [
    "CACHE_ENV",
    "ENTRY_SIZE",
    "FOOTER_MAGIC",
    "FOOTER_SIZE",
    "HEADER",
    "PACKS",
    "SORTED_MIN",
    "TAIL_READ",
    "TREE_SUFFIX",
    "IndexCache",
    "Location",
    "PackEntry",
    "PackIndex",
    "ReadRange",
    "Row",
    "SortedIndex",
    "encode_pack",
    "index_of",
    "is_tree_pack",
    "iter_objects",
    "list_packs",
    "load_index",
    "locations",
    "pack_digest",
    "pack_key",
    "pack_name",
    "parse_entries",
    "parse_pack",
    "plan_packs",
    "read_index",
    "read_raw_index",
]
