"""Merkle trees of paths, with directories sharded so a commit costs O(change).

Directories are tries of nodes (``tree_nodes.py``), so unchanged subtrees are shared by hash —
including inside a single folder of 100,000 files, where changing one file rewrites one small
leaf and its few parents. Every node records the entry count, byte size and file count below
it, so a commit's size and a directory's size are known without walking the tree.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from dagster_versioned.errors import CorruptStore, InvalidPath
from dagster_versioned.store.names import join_path, path_segments
from dagster_versioned.store.objects import ObjectId, ObjectStore, hash_bytes
from dagster_versioned.store.tree_nodes import (
    EMPTY_DIR,
    EMPTY_ROOT,
    FANOUT,
    MAX_DEPTH,
    MAX_LEAF,
    Entry,
    Node,
    Summary,
    decode_entry,
    dir_entry,
    encode_json,
    leaf_bytes,
    raw_leaf,
    slot,
)

_CACHE_NODES = 20_000


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
        self._cache: OrderedDict[ObjectId, Node] = OrderedDict()
        self._pending: dict[ObjectId, bytes] = {}

    # -- nodes -----------------------------------------------------------------------------

    def _load(self, oid: ObjectId) -> Node:
        node = self._cache.get(oid)
        if node is not None:
            self._cache.move_to_end(oid)
            return node
        if oid == EMPTY_DIR:
            node = Node(0, {}, None)
        else:
            raw = self._pending.get(oid) or self.objects.get(oid, tree=True)
            try:
                data = json.loads(raw)
                if "l" in data:
                    node = Node(int(data["d"]), None, None, raw_leaf(data["l"]))
                else:
                    kids = {d: Summary(ObjectId(i), n, s, f) for d, i, n, s, f in data["c"]}
                    node = Node(int(data["d"]), None, kids)
            except (ValueError, KeyError, TypeError, IndexError) as e:
                raise CorruptStore(f"tree node {oid} is not a valid tree node: {e}") from e
        self._remember(oid, node)
        return node

    def _remember(self, oid: ObjectId, node: Node) -> None:
        self._cache[oid] = node
        if len(self._cache) > _CACHE_NODES:
            self._cache.popitem(last=False)

    def _store(self, data: bytes, node: Node) -> ObjectId:
        oid = hash_bytes(data)
        if oid != EMPTY_DIR:
            self._pending[oid] = data
        self._remember(oid, node)
        return oid

    def flush(self) -> None:
        """Write the nodes made since the last flush as one batch (packed when enough are new)."""
        pending, self._pending = self._pending, {}
        self.objects.write_batch(list(pending.items()), tree=True)

    def _build(self, entries: dict[str, Entry], depth: int) -> Summary:
        size = sum(e.size for e in entries.values())
        files = sum(e.files for e in entries.values())
        if len(entries) <= MAX_LEAF or depth >= MAX_DEPTH:
            ordered = {n: entries[n] for n in sorted(entries)}
            oid = self._store(leaf_bytes(depth, ordered), Node(depth, ordered, None))
            return Summary(oid, len(entries), size, files)
        groups: dict[str, dict[str, Entry]] = {}
        for name, entry in entries.items():
            groups.setdefault(slot(name, depth), {})[name] = entry
        kids = {d: self._build(groups[d], depth + 1) for d in sorted(groups)}
        return self._internal(depth, kids)

    def _build_raw(self, raw: dict[str, list[Any]], depth: int) -> Summary:
        """``_build`` for entries kept as JSON: a leaf is encoded without decoding them."""
        if len(raw) > MAX_LEAF and depth < MAX_DEPTH:
            return self._build({n: decode_entry(e) for n, e in raw.items()}, depth)
        ordered = {n: raw[n] for n in sorted(raw)}
        try:
            size = sum(int(e[1]) for e in ordered.values())
            files = sum(int(e[2]) if e[0] == "d" else 1 for e in ordered.values())
        except (ValueError, TypeError, IndexError) as e:
            raise CorruptStore(f"a tree leaf holds an invalid entry: {e}") from e
        data = encode_json({"d": depth, "l": [[n, e] for n, e in ordered.items()]})
        oid = self._store(data, Node(depth, None, None, ordered))
        return Summary(oid, len(ordered), size, files)

    def _internal(self, depth: int, kids: dict[str, Summary]) -> Summary:
        ordered = {d: kids[d] for d in sorted(kids)}
        raw = [[d, s.node, s.entries, s.size, s.files] for d, s in ordered.items()]
        oid = self._store(encode_json({"d": depth, "c": raw}), Node(depth, None, ordered))
        return Summary(
            oid,
            sum(s.entries for s in ordered.values()),
            sum(s.size for s in ordered.values()),
            sum(s.files for s in ordered.values()),
        )

    # -- one directory ---------------------------------------------------------------------

    def dir_get(self, node_id: ObjectId, name: str) -> Entry | None:
        node = self._load(node_id)
        while node.children is not None:
            kid = node.children.get(slot(name, node.depth))
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
        if node.children is None:
            out.extend(node.entries().items())
            return
        for kid in node.children.values():
            self._collect(kid.node, out)

    def dir_update(self, node_id: ObjectId, changes: Mapping[str, Entry | None]) -> Summary:
        """Apply name → entry (``None`` deletes) edits to one directory."""
        return self._update(node_id, changes)

    def _update(self, node_id: ObjectId, changes: Mapping[str, Entry | None]) -> Summary:
        node = self._load(node_id)
        if node.children is None:
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
        groups: dict[str, dict[str, Entry | None]] = {}
        for name, entry in changes.items():
            groups.setdefault(slot(name, node.depth), {})[name] = entry
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
            if entry is None or entry.node is None:  # missing, or a file: no directory there
                return None
            entry = self.dir_get(entry.node, seg)
        return entry

    def list_dir(self, entry: Entry) -> list[tuple[str, Entry]]:
        """The entries of directory ``entry`` (a file has none)."""
        return [] if entry.node is None else self.dir_items(entry.node)

    def walk(
        self, entry: Entry, path: str = "/", *, max_depth: int | None = None
    ) -> Iterator[tuple[str, Entry]]:
        """Every path below ``path`` (directories before their contents), sorted."""
        if entry.node is None or max_depth == 0:  # a file: nothing below it
            return
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
        if root.node is None:  # a file
            seen.update(root.chunks)
            return
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


__all__ = [
    "EMPTY_DIR",
    "EMPTY_ROOT",
    "FANOUT",
    "MAX_LEAF",
    "Changes",
    "Entry",
    "TreeStore",
    "dir_entry",
]
