"""The tree node format: entries, leaves and internal nodes, and their canonical bytes.

A directory is a hash-array-mapped trie (HAMT) of its entries: while it holds at most
``MAX_LEAF`` names it is one leaf node; past that it splits into ``FANOUT`` children by the next
byte of ``blake3(name)``. The shape depends only on the set of names, so equal directories
have equal node ids. A node's id is the hash of its bytes, so the encoding here must stay
byte for byte what it is: changing it would give every existing tree new ids. ``trees.py``
reads, builds and walks trees of these nodes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

import blake3

from dagster_versioned.errors import CorruptStore
from dagster_versioned.store.objects import EMPTY_HASH, ObjectId, hash_bytes

MAX_LEAF = 128
FANOUT = 32  # 100k names in one folder: 3 nodes per changed name (measured best of 16/32/64)
MAX_DEPTH = 31


@dataclass(frozen=True, slots=True)
class Entry:
    """A file or directory inside a tree."""

    kind: Literal["file", "dir"]
    size: int
    """Bytes: the file's length, or the total of every file below the directory."""
    files: int = 1
    """1 for a file; the number of files below a directory."""
    chunks: tuple[ObjectId, ...] = ()
    """A file's content, as chunk object ids in order."""
    node: ObjectId | None = None
    """A directory's root node."""
    _text: str | None = field(default=None, compare=False, hash=False, repr=False)
    """Memoised canonical JSON of the entry (leaves are re-encoded from these)."""

    def text(self) -> str:
        text = self._text
        if text is None:
            text = _entry_text(self)
            object.__setattr__(self, "_text", text)
        return text

    @property
    def is_dir(self) -> bool:
        return self.kind == "dir"

    @property
    def hash(self) -> str:
        """A content hash: equal files (same chunks) and equal directories hash equal."""
        if self.is_dir:
            return str(self.node)
        if len(self.chunks) == 1:
            return self.chunks[0]
        if not self.chunks:
            return EMPTY_HASH
        return hash_bytes(",".join(self.chunks).encode())

    def to_json(self) -> list[Any]:
        if self.is_dir:
            return ["d", self.size, self.files, self.node]
        return ["f", self.size, list(self.chunks)]

    @staticmethod
    def from_json(raw: list[Any]) -> Entry:
        if raw[0] == "d":
            return Entry("dir", int(raw[1]), int(raw[2]), node=ObjectId(raw[3]))
        return Entry("file", int(raw[1]), 1, chunks=tuple(raw[2]))  # ObjectId: a NewType


def _entry_text(entry: Entry) -> str:
    """The entry's canonical JSON, formatted directly.

    A commit that touches many directories re-encodes every entry of every leaf it rewrites
    (10,000 for 100 files spread over 100 folders of 100); ``json.dumps`` per entry was the
    largest cost of such a commit. Ids that are not plain ASCII letters and digits (only a
    corrupt node could hold one) go through ``json`` so the bytes stay canonical.
    """
    if entry.kind == "dir":
        node = entry.node
        if node is not None and node.isascii() and node.isalnum():
            return f'["d",{int(entry.size)},{int(entry.files)},"{node}"]'
    else:
        chunks = entry.chunks
        joined = "".join(chunks)
        if joined.isascii() and (joined.isalnum() or not joined) and all(chunks):
            if len(chunks) == 1:
                return f'["f",{int(entry.size)},["{joined}"]]'
            quoted = ",".join([f'"{c}"' for c in chunks])
            return f'["f",{int(entry.size)},[{quoted}]]'
    return encode_json(entry.to_json()).decode()


@dataclass(frozen=True, slots=True)
class Summary:
    node: ObjectId
    entries: int
    size: int
    files: int


@dataclass(slots=True)
class Node:
    """A leaf (``leaf`` or ``raw`` set) or an internal node (``children`` set).

    A leaf read from the store keeps its entries as the parsed JSON (``raw``) and decodes an
    ``Entry`` only when asked: a commit that rewrites a leaf touches one or two of its ~100
    entries, and decoding then re-encoding the rest was most of the cost of a commit spread
    over many folders. ``raw`` is re-encoded in one C ``json.dumps`` call, to the same bytes.
    """

    depth: int
    leaf: dict[str, Entry] | None  # sorted by name; None for an unread raw leaf
    children: dict[str, Summary] | None  # by hex digit
    raw: dict[str, list[Any]] | None = None  # sorted by name: name -> entry JSON

    @property
    def is_leaf(self) -> bool:
        return self.children is None

    def get(self, name: str) -> Entry | None:
        if self.leaf is not None:
            return self.leaf.get(name)
        found = self.raw_entries().get(name)
        return None if found is None else decode_entry(found)

    def entries(self) -> dict[str, Entry]:
        """The leaf's entries, decoded on first use (an internal node has none)."""
        if self.leaf is None:
            self.leaf = {n: decode_entry(e) for n, e in self.raw_entries().items()}
        return self.leaf

    def raw_entries(self) -> dict[str, list[Any]]:
        """The leaf's entries as JSON, encoded on first use (an internal node has none)."""
        if self.raw is None:
            self.raw = {n: e.to_json() for n, e in (self.leaf or {}).items()}
        return self.raw


def raw_leaf(items: Any) -> dict[str, list[Any]]:
    """A leaf's ``[name, entry JSON]`` pairs, shape-checked (entries decode on use)."""
    entries: dict[str, list[Any]] = {}
    for name, entry in items:
        if not isinstance(name, str) or not isinstance(entry, list) or not entry:
            raise TypeError(f"bad leaf entry {name!r}")
        entries[name] = entry
    return entries


def decode_entry(raw: list[Any]) -> Entry:
    try:
        return Entry.from_json(raw)
    except (ValueError, KeyError, TypeError, IndexError) as e:
        raise CorruptStore(f"tree entry {raw!r} is not a valid entry: {e}") from e


def encode_json(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


@lru_cache(maxsize=200_000)
def _name_digest(name: str) -> str:
    return blake3.blake3(name.encode()).hexdigest()


def slot(name: str, depth: int) -> str:
    byte = int(_name_digest(name)[2 * depth : 2 * depth + 2], 16)
    return f"{byte % FANOUT:02x}"


@lru_cache(maxsize=500_000)
def _name_text(name: str) -> str:
    return json.dumps(name)


def leaf_bytes(depth: int, entries: Mapping[str, Entry]) -> bytes:
    """Canonical leaf JSON, built from cached per-entry text: a leaf is rewritten whole when
    one entry changes, so re-encoding only the changed entry keeps a commit O(change)."""
    body = ",".join(f"[{_name_text(n)},{entries[n].text()}]" for n in sorted(entries))
    return f'{{"d":{depth},"l":[{body}]}}'.encode()


EMPTY_DIR = ObjectId(hash_bytes(leaf_bytes(0, {})))


def dir_entry(summary_node: ObjectId, size: int, files: int) -> Entry:
    return Entry("dir", size, files, node=summary_node)


EMPTY_ROOT = dir_entry(EMPTY_DIR, 0, 0)
