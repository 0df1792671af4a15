"""Leaves read from the store are edited as JSON without decoding every entry (issue 10, case C).

The edited tree must be byte-for-byte the tree a fresh build of the same files gives: node ids
are content hashes, and equal directories must keep equal ids whichever path wrote them.
"""

from pathlib import Path

from dagster_versioned.store import Store
from dagster_versioned.store.objects import ObjectId
from dagster_versioned.store.trees import MAX_LEAF, Changes, Entry, TreeStore


def _file(i: int) -> Entry:
    return Entry("file", i, chunks=(ObjectId(f"{i:064x}"),))


def _fresh(store: Store) -> TreeStore:
    """A tree store with a cold cache, so every node is read back from storage."""
    return TreeStore(store.objects)


def test_edits_to_stored_leaves_give_the_same_tree_as_a_fresh_build(tmp_path: Path):
    store = Store.open(str(tmp_path / "s"))
    files = {f"/small/f{i}": _file(i) for i in range(50)}
    files |= {f"/near/f{i}": _file(1000 + i) for i in range(MAX_LEAF - 5)}
    files |= {f"/big/f{i}": _file(5000 + i) for i in range(400)}
    first = _fresh(store)
    root = first.build_from_files(files.items())
    first.flush()

    changes = Changes()
    expected = dict(files)
    edits: dict[str, Entry | None] = {
        "/small/f3": _file(90_000),  # replaced
        "/small/f4": None,  # deleted
        "/small/new": _file(90_001),  # added
        "/big/f7": _file(90_002),
        "/big/f8": None,
    }
    edits |= {f"/near/extra{i}": _file(91_000 + i) for i in range(20)}  # the leaf splits
    for path, entry in edits.items():
        changes.set(path, entry)
        if entry is None:
            expected.pop(path)
        else:
            expected[path] = entry
    edited = _fresh(store)
    new_root = edited.apply(root, changes)
    edited.flush()

    rebuilt = _fresh(store).build_from_files(expected.items())
    assert new_root == rebuilt
    assert new_root.files == len(expected)
    assert new_root.size == sum(e.size for e in expected.values())
    walked = {p: e for p, e in _fresh(store).walk(new_root) if not e.is_dir}
    assert walked == expected


def test_a_leaf_shrinks_back_from_shards_to_the_same_tree(tmp_path: Path):
    store = Store.open(str(tmp_path / "s"))
    files = {f"/d/f{i}": _file(i) for i in range(MAX_LEAF + 10)}
    first = _fresh(store)
    root = first.build_from_files(files.items())
    first.flush()

    changes = Changes()
    for i in range(20):
        changes.set(f"/d/f{i}", None)
        del files[f"/d/f{i}"]
    edited = _fresh(store)
    new_root = edited.apply(root, changes)
    edited.flush()

    assert new_root == _fresh(store).build_from_files(files.items())
    assert _fresh(store).lookup(new_root, "/d/f30") == _file(30)
    assert _fresh(store).lookup(new_root, "/d/f3") is None
