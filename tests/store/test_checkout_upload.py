"""One way to write a stored tree to disk (``Store.checkout``) and one way to store a local
folder (``store/upload.py``), shared by dvctl, the IO manager, datums, snapshots and egress."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import fsspec
import pytest

from dagster_versioned.errors import InvalidPath
from dagster_versioned.pps.transform import collect_outputs
from dagster_versioned.store import Store
from dagster_versioned.store.upload import LinkOutside, upload_dir


@pytest.fixture
def tree(store: Store) -> str:
    store.create_repo("data")
    with store.commit("data@master") as c:
        c.put_file("/a.txt", b"a")
        c.put_file("/dir/b.txt", b"bb")
        c.put_file("/dir/deep/c.txt", b"ccc")
        c.put_file("/skip/me.txt", b"no")
    return "data@master:/"


def files_below(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_an_atomic_checkout_appears_whole_and_leaves_no_temporary(
    store: Store, tree: str, tmp_path: Path
) -> None:
    done = store.checkout(tree, tmp_path / "work" / "copy", skip=lambda rel: rel == "skip")
    assert files_below(done.path) == {"a.txt": b"a", "dir/b.txt": b"bb", "dir/deep/c.txt": b"ccc"}
    assert (done.files, done.bytes) == (3, 6)
    assert os.listdir(tmp_path / "work") == ["copy"]


def test_an_existing_atomic_destination_is_reused_untouched(
    store: Store, tree: str, tmp_path: Path
) -> None:
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "mine").write_bytes(b"kept")
    done = store.checkout(tree, tmp_path / "copy")
    assert done.files == 0
    assert files_below(tmp_path / "copy") == {"mine": b"kept"}


def test_a_read_only_checkout_cannot_be_written_by_its_readers(
    store: Store, tree: str, tmp_path: Path
) -> None:
    done = store.checkout("data@master:/dir", tmp_path / "ro", read_only=True)
    mode = (done.path / "b.txt").stat().st_mode
    assert not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


def test_an_in_place_checkout_merges_into_the_folder_and_replaces_planted_links(
    store: Store, tree: str, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "old.txt").write_bytes(b"old")
    (dest / "dir").symlink_to(outside, target_is_directory=True)
    store.checkout(tree, dest, atomic=False)
    assert files_below(dest)["old.txt"] == b"old"
    assert files_below(dest)["dir/deep/c.txt"] == b"ccc"
    assert not (dest / "dir").is_symlink()
    assert list(outside.iterdir()) == []


def test_a_tampered_tree_cannot_write_outside_the_destination(store: Store, tmp_path: Path) -> None:
    store.create_repo("evil")
    oid = store.objects.put(b"evil")
    with store.commit("evil@master") as c:
        c._sink({"op": "put", "path": "/../escape.txt", "chunks": [oid], "size": 4})
    with pytest.raises(InvalidPath, match="would leave"):
        store.checkout("evil@master:/", tmp_path / "out" / "dest", atomic=False)
    assert not any(p.name == "escape.txt" for p in tmp_path.rglob("*"))


def test_export_writes_a_tree_to_any_fsspec_url(store: Store, tree: str) -> None:
    assert store.export("data@master:/dir", "memory://egress/here") == 2
    fs = fsspec.filesystem("memory")
    assert fs.cat("/egress/here/deep/c.txt") == b"ccc"
    assert fs.cat("/egress/here/b.txt") == b"bb"


def test_export_to_a_local_url_writes_the_files(store: Store, tree: str, tmp_path: Path) -> None:
    assert store.export(tree, f"file://{tmp_path}/egress") == 4
    assert files_below(tmp_path / "egress")["dir/b.txt"] == b"bb"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    (out / "a.txt").write_bytes(b"a")
    (out / "sub" / "b.txt").write_bytes(b"b")
    evil = tmp_path / "out-evil"  # a sibling whose name starts like the folder's
    evil.mkdir()
    (evil / "secret").write_bytes(b"secret")
    (out / "leak").symlink_to(evil / "secret")
    (out / "inner").symlink_to(out / "a.txt")
    (out / "linked-dir").symlink_to(out / "sub", target_is_directory=True)
    return out


def test_uploads_follow_symlinks_only_to_files_inside_the_folder(
    store: Store, folder: Path
) -> None:
    names = [rel for rel, _ in upload_dir(store.objects, folder)]
    assert names == ["a.txt", "inner", "sub/b.txt"]


def test_uploads_follow_symlinks_into_an_allowed_folder(
    store: Store, folder: Path, tmp_path: Path
) -> None:
    names = [rel for rel, _ in upload_dir(store.objects, folder, allowed=[tmp_path / "out-evil"])]
    assert "leak" in names


def test_a_datums_outputs_never_include_a_sibling_folder_linked_in(
    store: Store, tmp_path: Path
) -> None:
    pfs = tmp_path / "pfs"
    (pfs / "out").mkdir(parents=True)
    (pfs / "images").mkdir()
    (pfs / "images" / "cat.png").write_bytes(b"png")
    (pfs / "out-evil").mkdir()
    (pfs / "out-evil" / "x").write_bytes(b"x")
    (pfs / "out" / "cat.png").symlink_to(pfs / "images" / "cat.png")  # Pachyderm's idiom
    (pfs / "out" / "x").symlink_to(pfs / "out-evil" / "x")
    outputs, uploaded = collect_outputs(store, pfs / "out")
    assert sorted(outputs) == ["/cat.png", "/x"]  # both inside the datum's pfs folder
    assert uploaded == 4
    (tmp_path / "elsewhere").write_bytes(b"e")
    (pfs / "out" / "e").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(LinkOutside, match="'/e' points to"):  # refused, never dropped
        collect_outputs(store, pfs / "out")


def test_small_files_of_a_folder_are_stored_in_one_pack(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "small"
    folder.mkdir()
    for i in range(50):
        (folder / f"f{i:02d}").write_bytes(f"content {i}".encode())
    before = set(store.backend.listdir("packs"))
    entries = dict(upload_dir(store.objects, folder))
    assert len(entries) == 50
    assert len(set(store.backend.listdir("packs")) - before) >= 1
    assert store.backend.listdir("objects") == []
