"""Merkle trees of paths, with directories sharded so a commit costs O(change).

A directory is a hash-array-mapped trie (HAMT) of its entries: while it holds at most
``MAX_LEAF`` names it is one leaf node; past that it splits into ``FANOUT`` children by the next
byte of ``blake3(name)``. The shape depends only on the set of names, so equal directories
have equal node ids and unchanged subtrees are shared by hash — including inside a single
folder of 100,000 files, where changing one file rewrites one small leaf and its few parents.

Every node records the entry count, byte size and file count below it, so a commit's size and
a directory's size are known without walking the tree.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

import blake3

from dagster_versioned.errors import CorruptStore, InvalidPath
from dagster_versioned.store.names import join_path, path_segments
from dagster_versioned.store.objects import (
    EMPTY_HASH,
    ObjectId,
    ObjectStore,
    hash_bytes,
)

MAX_LEAF = 128
FANOUT = 32  # 100k names in one folder: 3 nodes per changed name (measured best of 16/32/64)
_MAX_DEPTH = 31
_CACHE_NODES = 20_000


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
        if self._text is None:
            object.__setattr__(self, "_text", _entry_text(self))
        assert self._text is not None
        return self._text

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
    return _encode(entry.to_json()).decode()


@dataclass(frozen=True, slots=True)
class _Summary:
    node: ObjectId
    entries: int
    size: int
    files: int


@dataclass(slots=True)
class _Node:
    """A leaf (``leaf`` or ``raw`` set) or an internal node (``children`` set).

    A leaf read from the store keeps its entries as the parsed JSON (``raw``) and decodes an
    ``Entry`` only when asked: a commit that rewrites a leaf touches one or two of its ~100
    entries, and decoding then re-encoding the rest was most of the cost of a commit spread
    over many folders. ``raw`` is re-encoded in one C ``json.dumps`` call, to the same bytes.
    """

    depth: int
    leaf: dict[str, Entry] | None  # sorted by name; None for an unread raw leaf
    children: dict[str, _Summary] | None  # by hex digit
    raw: dict[str, list[Any]] | None = None  # sorted by name: name -> entry JSON

    @property
    def is_leaf(self) -> bool:
        return self.children is None

    def get(self, name: str) -> Entry | None:
        if self.leaf is not None:
            return self.leaf.get(name)
        assert self.raw is not None
        found = self.raw.get(name)
        return None if found is None else _decode_entry(found)

    def entries(self) -> dict[str, Entry]:
        if self.leaf is None:
            assert self.raw is not None
            self.leaf = {n: _decode_entry(e) for n, e in self.raw.items()}
        return self.leaf

    def raw_entries(self) -> dict[str, list[Any]]:
        if self.raw is None:
            assert self.leaf is not None
            self.raw = {n: e.to_json() for n, e in self.leaf.items()}
        return self.raw


def _raw_leaf(items: Any) -> dict[str, list[Any]]:
    """A leaf's ``[name, entry JSON]`` pairs, shape-checked (entries decode on use)."""
    entries: dict[str, list[Any]] = {}
    for name, entry in items:
        if not isinstance(name, str) or not isinstance(entry, list) or not entry:
            raise TypeError(f"bad leaf entry {name!r}")
        entries[name] = entry
    return entries


def _decode_entry(raw: list[Any]) -> Entry:
    try:
        return Entry.from_json(raw)
    except (ValueError, KeyError, TypeError, IndexError) as e:
        raise CorruptStore(f"tree entry {raw!r} is not a valid entry: {e}") from e


def _encode(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


@lru_cache(maxsize=200_000)
def _name_digest(name: str) -> str:
    return blake3.blake3(name.encode()).hexdigest()


def _slot(name: str, depth: int) -> str:
    byte = int(_name_digest(name)[2 * depth : 2 * depth + 2], 16)
    return f"{byte % FANOUT:02x}"


@lru_cache(maxsize=500_000)
def _name_text(name: str) -> str:
    return json.dumps(name)


def _leaf_bytes(depth: int, entries: Mapping[str, Entry]) -> bytes:
    """Canonical leaf JSON, built from cached per-entry text: a leaf is rewritten whole when
    one entry changes, so re-encoding only the changed entry keeps a commit O(change)."""
    body = ",".join(f"[{_name_text(n)},{entries[n].text()}]" for n in sorted(entries))
    return f'{{"d":{depth},"l":[{body}]}}'.encode()


EMPTY_DIR = ObjectId(hash_bytes(_leaf_bytes(0, {})))


def dir_entry(summary_node: ObjectId, size: int, files: int) -> Entry:
    return Entry("dir", size, files, node=summary_node)


EMPTY_ROOT = dir_entry(EMPTY_DIR, 0, 0)


@dataclass
class Changes:
    """Ordered edits to a tree, folded into a trie so they apply in one pass.

    Later edits win over earlier ones at the same path; deleting or replacing a directory
    drops the edits recorded below it, as applying them in order would.
    """

    replaced: bool = False
    value: Entry | None = None
    children: dict[str, Changes] = field(default_factory=dict)

    def set(self, path: str, entry: Entry | None) -> None:
        node = self
        for seg in path_segments(path):
            node = node.children.setdefault(seg, Changes())
        node.replaced, node.value, node.children = True, entry, {}

    def __bool__(self) -> bool:
        return self.replaced or bool(self.children)


class TreeStore:
    """Reads and writes tree nodes; nodes are immutable, so they are cached freely."""

    def __init__(self, objects: ObjectStore) -> None:
        self.objects = objects
        self._cache: OrderedDict[ObjectId, _Node] = OrderedDict()
        self._pending: dict[ObjectId, bytes] = {}

    # -- nodes -----------------------------------------------------------------------------

    def _load(self, oid: ObjectId) -> _Node:
        node = self._cache.get(oid)
        if node is not None:
            self._cache.move_to_end(oid)
            return node
        if oid == EMPTY_DIR:
            node = _Node(0, {}, None)
        else:
            raw = self._pending.get(oid) or self.objects.get(oid, tree=True)
            try:
                data = json.loads(raw)
                if "l" in data:
                    node = _Node(int(data["d"]), None, None, _raw_leaf(data["l"]))
                else:
                    kids = {d: _Summary(ObjectId(i), n, s, f) for d, i, n, s, f in data["c"]}
                    node = _Node(int(data["d"]), None, kids)
            except (ValueError, KeyError, TypeError, IndexError) as e:
                raise CorruptStore(f"tree node {oid} is not a valid tree node: {e}") from e
        self._remember(oid, node)
        return node

    def _remember(self, oid: ObjectId, node: _Node) -> None:
        self._cache[oid] = node
        if len(self._cache) > _CACHE_NODES:
            self._cache.popitem(last=False)

    def _store(self, data: bytes, node: _Node) -> ObjectId:
        oid = hash_bytes(data)
        if oid != EMPTY_DIR:
            self._pending[oid] = data
        self._remember(oid, node)
        return oid

    def flush(self) -> None:
        """Write the nodes made since the last flush as one batch (packed when enough are new)."""
        pending, self._pending = self._pending, {}
        self.objects.write_batch(list(pending.items()), tree=True)

    def _build(self, entries: dict[str, Entry], depth: int) -> _Summary:
        size = sum(e.size for e in entries.values())
        files = sum(e.files for e in entries.values())
        if len(entries) <= MAX_LEAF or depth >= _MAX_DEPTH:
            ordered = {n: entries[n] for n in sorted(entries)}
            oid = self._store(_leaf_bytes(depth, ordered), _Node(depth, ordered, None))
            return _Summary(oid, len(entries), size, files)
        groups: dict[str, dict[str, Entry]] = {}
        for name, entry in entries.items():
            groups.setdefault(_slot(name, depth), {})[name] = entry
        kids = {d: self._build(groups[d], depth + 1) for d in sorted(groups)}
        return self._internal(depth, kids)

    def _build_raw(self, raw: dict[str, list[Any]], depth: int) -> _Summary:
        """``_build`` for entries kept as JSON: a leaf is encoded without decoding them."""
        if len(raw) > MAX_LEAF and depth < _MAX_DEPTH:
            return self._build({n: _decode_entry(e) for n, e in raw.items()}, depth)
        ordered = {n: raw[n] for n in sorted(raw)}
        try:
            size = sum(int(e[1]) for e in ordered.values())
            files = sum(int(e[2]) if e[0] == "d" else 1 for e in ordered.values())
        except (ValueError, TypeError, IndexError) as e:
            raise CorruptStore(f"a tree leaf holds an invalid entry: {e}") from e
        data = _encode({"d": depth, "l": [[n, e] for n, e in ordered.items()]})
        oid = self._store(data, _Node(depth, None, None, ordered))
        return _Summary(oid, len(ordered), size, files)

    def _internal(self, depth: int, kids: dict[str, _Summary]) -> _Summary:
        ordered = {d: kids[d] for d in sorted(kids)}
        raw = [[d, s.node, s.entries, s.size, s.files] for d, s in ordered.items()]
        oid = self._store(_encode({"d": depth, "c": raw}), _Node(depth, None, ordered))
        return _Summary(
            oid,
            sum(s.entries for s in ordered.values()),
            sum(s.size for s in ordered.values()),
            sum(s.files for s in ordered.values()),
        )

    # -- one directory ---------------------------------------------------------------------

    def dir_get(self, node_id: ObjectId, name: str) -> Entry | None:
        node = self._load(node_id)
        while node.children is not None:
            kid = node.children.get(_slot(name, node.depth))
            if kid is None:
                return None
            node = self._load(kid.node)
        return node.get(name)

    def dir_items(self, node_id: ObjectId) -> list[tuple[str, Entry]]:
        """Every entry of one directory, sorted by name."""
        out: list[tuple[str, Entry]] = []
        self._collect(node_id, out)
        out.sort(key=lambda item: item[0])
        return out

    def _collect(self, node_id: ObjectId, out: list[tuple[str, Entry]]) -> None:
        node = self._load(node_id)
        if node.is_leaf:
            out.extend(node.entries().items())
            return
        assert node.children is not None
        for kid in node.children.values():
            self._collect(kid.node, out)

    def dir_update(self, node_id: ObjectId, changes: Mapping[str, Entry | None]) -> _Summary:
        """Apply name → entry (``None`` deletes) edits to one directory."""
        return self._update(node_id, changes)

    def _update(self, node_id: ObjectId, changes: Mapping[str, Entry | None]) -> _Summary:
        node = self._load(node_id)
        if node.is_leaf:
            if node.leaf is None or len(changes) * 4 < len(node.leaf):
                raw = dict(node.raw_entries())
                for name, entry in changes.items():
                    if entry is None:
                        raw.pop(name, None)
                    else:
                        raw[name] = entry.to_json()
                return self._build_raw(raw, node.depth)
            entries = dict(node.leaf)
            for name, entry in changes.items():
                if entry is None:
                    entries.pop(name, None)
                else:
                    entries[name] = entry
            return self._build(entries, node.depth)
        assert node.children is not None
        groups: dict[str, dict[str, Entry | None]] = {}
        for name, entry in changes.items():
            groups.setdefault(_slot(name, node.depth), {})[name] = entry
        kids = dict(node.children)
        for digit, sub in groups.items():
            if digit in kids:
                new = self._update(kids[digit].node, sub)
            else:
                added = {n: e for n, e in sub.items() if e is not None}
                new = self._build(added, node.depth + 1)
            if new.entries:
                kids[digit] = new
            else:
                kids.pop(digit, None)
        if sum(k.entries for k in kids.values()) <= MAX_LEAF:
            merged: list[tuple[str, Entry]] = []
            for kid in kids.values():
                self._collect(kid.node, merged)
            return self._build(dict(merged), node.depth)
        return self._internal(node.depth, kids)

    # -- paths -----------------------------------------------------------------------------

    def lookup(self, root: Entry, path: str) -> Entry | None:
        entry: Entry | None = root
        for seg in path_segments(path):
            if entry is None or not entry.is_dir:
                return None
            assert entry.node is not None
            entry = self.dir_get(entry.node, seg)
        return entry

    def list_dir(self, entry: Entry) -> list[tuple[str, Entry]]:
        assert entry.node is not None
        return self.dir_items(entry.node)

    def walk(
        self, entry: Entry, path: str = "/", *, max_depth: int | None = None
    ) -> Iterator[tuple[str, Entry]]:
        """Every path below ``path`` (directories before their contents), sorted."""
        if not entry.is_dir or max_depth == 0:
            return
        assert entry.node is not None
        for name, child in self.dir_items(entry.node):
            child_path = join_path(path, name)
            yield child_path, child
            if child.is_dir:
                yield from self.walk(
                    child, child_path, max_depth=None if max_depth is None else max_depth - 1
                )

    def apply(self, root: Entry, changes: Changes) -> Entry:
        """Apply ``changes`` to the tree ``root`` and return the new root (nodes not flushed)."""
        new = self._apply(root, changes, "/")
        return EMPTY_ROOT if new is None else new

    def _apply(self, base: Entry | None, changes: Changes, path: str) -> Entry | None:
        if changes.replaced:
            base = changes.value
        if not changes.children:
            return base
        if base is not None and not base.is_dir:
            raise InvalidPath(f"cannot write below '{path}': it is a file, not a directory")
        node_id = base.node if base is not None and base.node is not None else EMPTY_DIR
        edits: dict[str, Entry | None] = {}
        for name, child in changes.children.items():
            old = self.dir_get(node_id, name)
            edits[name] = self._apply(old, child, join_path(path, name))
        summary = self._update(node_id, edits)
        if summary.entries == 0:
            return None
        return dir_entry(summary.node, summary.size, summary.files)

    def build_from_files(self, files: Iterable[tuple[str, Entry]]) -> Entry:
        """A tree holding exactly ``files`` (path → file entry)."""
        changes = Changes()
        for path, entry in files:
            changes.set(path, entry)
        return self.apply(EMPTY_ROOT, changes)

    # -- diff ------------------------------------------------------------------------------

    def diff(
        self, old: Entry | None, new: Entry | None, path: str = "/"
    ) -> Iterator[tuple[str, Entry | None, Entry | None]]:
        """Files that differ between two trees: (path, old entry, new entry), sorted by path.

        Subtrees with equal hashes are skipped without being read, so a diff costs O(change).
        """
        if old is not None and new is not None and old.hash == new.hash and old.kind == new.kind:
            return
        old_file = old if old is not None and not old.is_dir else None
        new_file = new if new is not None and not new.is_dir else None
        if old_file is not None and new_file is not None:
            yield path, old_file, new_file
            return
        if old_file is not None:
            yield path, old_file, None
        old_node = old.node if old is not None and old.is_dir else None
        new_node = new.node if new is not None and new.is_dir else None
        if old_node is not None or new_node is not None:
            pairs = self._diff_dirs(old_node or EMPTY_DIR, new_node or EMPTY_DIR)
            for name, a, b in sorted(pairs, key=lambda p: p[0]):
                yield from self.diff(a, b, join_path(path, name))
        if new_file is not None:
            yield path, None, new_file

    def _diff_dirs(
        self, a_id: ObjectId, b_id: ObjectId
    ) -> list[tuple[str, Entry | None, Entry | None]]:
        if a_id == b_id:
            return []
        a, b = self._load(a_id), self._load(b_id)
        if a.children is not None and b.children is not None and a.depth == b.depth:
            out: list[tuple[str, Entry | None, Entry | None]] = []
            for digit in sorted(set(a.children) | set(b.children)):
                ka, kb = a.children.get(digit), b.children.get(digit)
                out.extend(
                    self._diff_dirs(ka.node if ka else EMPTY_DIR, kb.node if kb else EMPTY_DIR)
                )
            return out
        left = dict(self.dir_items(a_id))
        right = dict(self.dir_items(b_id))
        return [
            (name, left.get(name), right.get(name))
            for name in sorted(set(left) | set(right))
            if left.get(name) != right.get(name)
        ]

    # -- reachability ----------------------------------------------------------------------

    def reachable(self, root: Entry, seen: set[str]) -> None:
        """Add every stored object id reachable from ``root`` (nodes and chunks) to ``seen``.

        The empty folder's node is not one: readers know it without reading it, so it is
        never written (an AUTO commit's root is the empty folder)."""
        if not root.is_dir:
            seen.update(root.chunks)
            return
        assert root.node is not None
        self._reach_node(root.node, seen)

    def _reach_node(self, node_id: ObjectId, seen: set[str]) -> None:
        if node_id in seen or node_id == EMPTY_DIR:  # the empty folder is never stored
            return
        seen.add(node_id)
        node = self._load(node_id)
        if node.children is not None:
            for kid in node.children.values():
                self._reach_node(kid.node, seen)
            return
        for entry in node.entries().values():
            self.reachable(entry, seen)
