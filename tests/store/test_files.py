"""Files: every kind of put, reads, listing, globs, diffs, copies by reference, deletes, paths."""

from __future__ import annotations

import io
import os
import unicodedata
from pathlib import Path

import pytest

from dagster_versioned.errors import InvalidPath, PathNotFound
from dagster_versioned.store import Store

from .helpers import object_keys


@pytest.fixture
def repo(store: Store) -> str:
    store.create_repo("repo")
    return "repo"


def _files(store: Store, ref: str) -> dict[str, bytes]:
    return {
        f.path: store.get_file(f"{ref}:{f.path}") for f in store.walk_file(ref) if f.type == "file"
    }


# ---------------------------------------------------------------- put


@pytest.mark.parametrize(
    ("data", "stored"),
    [
        (b"raw bytes", b"raw bytes"),
        (bytearray(b"a bytearray"), b"a bytearray"),
        ("text é", "text é".encode()),
        ("<file object>", b"from a file object"),
        (b"", b""),
    ],
    ids=["bytes", "bytearray", "str", "file-object", "empty"],
)
def test_put_file_stores_bytes_text_and_file_objects(
    store: Store, repo: str, data: object, stored: bytes
):
    if data == "<file object>":
        data = io.BytesIO(b"from a file object")  # a fresh stream per backend
    store.put_file("repo@master:/f", data)  # type: ignore[arg-type]

    assert store.get_file("repo@master:/f") == stored
    assert store.inspect_file("repo@master:/f").size == len(stored)


def test_put_file_from_a_local_file(store: Store, repo: str, tmp_path: Path):
    local = tmp_path / "data.csv"
    local.write_bytes(b"a,b\n1,2\n")

    store.put_file("repo@master:/data.csv", local)

    assert store.get_file("repo@master:/data.csv") == b"a,b\n1,2\n"


def test_put_file_from_a_local_directory_is_recursive(store: Store, repo: str, tmp_path: Path):
    src = tmp_path / "src"
    (src / "sub" / "deeper").mkdir(parents=True)
    (src / "top.txt").write_bytes(b"top")
    (src / "sub" / "mid.txt").write_bytes(b"mid")
    (src / "sub" / "deeper" / "low.txt").write_bytes(b"low")
    (src / "sub" / "empty.txt").write_bytes(b"")

    store.put_file("repo@master:/in", src)

    assert _files(store, "repo@master") == {
        "/in/top.txt": b"top",
        "/in/sub/mid.txt": b"mid",
        "/in/sub/deeper/low.txt": b"low",
        "/in/sub/empty.txt": b"",
    }
    assert len(store.list_commit("repo@master")) == 1


def test_put_directory_does_not_follow_symlinks_pointing_outside_it(
    store: Store, repo: str, tmp_path: Path
):
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"do not upload")
    outside_dir = tmp_path / "outside"
    outside_dir.mkdir()
    (outside_dir / "also-secret.txt").write_bytes(b"nor this")
    src = tmp_path / "src"
    src.mkdir()
    (src / "real.txt").write_bytes(b"real")
    os.symlink(secret, src / "link-to-file.txt")
    os.symlink(outside_dir, src / "link-to-dir")
    os.symlink("real.txt", src / "inside-link.txt")

    store.put_file("repo@master:/", src)

    files = _files(store, "repo@master")
    assert b"do not upload" not in files.values()
    assert b"nor this" not in files.values()
    assert files["/real.txt"] == b"real"
    assert set(files) <= {"/real.txt", "/inside-link.txt"}


def test_put_file_with_append_extends_the_file(store: Store, repo: str):
    store.put_file("repo@master:/log.txt", b"one\n")

    store.put_file("repo@master:/log.txt", b"two\n", append=True)
    store.put_file("repo@master:/new.txt", b"fresh", append=True)

    assert store.get_file("repo@master:/log.txt") == b"one\ntwo\n"
    assert store.get_file("repo@master:/new.txt") == b"fresh"
    assert store.get_file("repo@master^2:/log.txt") == b"one\n"


def test_put_file_replaces_the_previous_content(store: Store, repo: str):
    store.put_file("repo@master:/f", b"old")
    store.put_file("repo@master:/f", b"new")

    assert store.get_file("repo@master:/f") == b"new"
    assert store.get_file("repo@master^:/f") == b"old"


# ---------------------------------------------------------------- read


def test_open_file_streams_the_content(store: Store, repo: str):
    data = bytes(range(256)) * 1000
    store.put_file("repo@master:/big.bin", data)

    with store.open_file("repo@master:/big.bin") as f:
        parts = [f.read(1000), f.read(7), f.read()]

    assert [len(p) for p in parts] == [1000, 7, len(data) - 1007]
    assert b"".join(parts) == data


def test_get_file_reads_any_commit(store: Store, repo: str):
    first = store.put_file("repo@master:/f", b"v1")
    store.put_file("repo@master:/f", b"v2")
    assert first is not None

    assert store.get_file(f"repo@{first.id}:/f") == b"v1"
    assert store.get_file("repo@master:/f") == b"v2"


def test_list_file_gives_path_type_and_size_sorted_by_name(store: Store, repo: str):
    with store.commit("repo@master") as c:
        c.put_file("/b.txt", b"bb")
        c.put_file("/a.txt", b"a")
        c.put_file("/dir/x", b"xxx")
        c.put_file("/dir/y", b"yyyy")
        c.put_file("/C.txt", b"")

    top = store.list_file("repo@master")
    sub = store.list_file("repo@master:/dir")

    assert [(f.path, f.type, f.size) for f in top] == [
        ("/C.txt", "file", 0),
        ("/a.txt", "file", 1),
        ("/b.txt", "file", 2),
        ("/dir", "dir", 7),
    ]
    assert [(f.path, f.type, f.size) for f in sub] == [("/dir/x", "file", 3), ("/dir/y", "file", 4)]
    assert [f.path for f in store.list_file("repo@master:/a.txt")] == ["/a.txt"]


@pytest.fixture
def tree(store: Store, repo: str) -> str:
    with store.commit("repo@master") as c:
        for path in ("/a.txt", "/b.txt", "/c.csv", "/d1/x.csv", "/d1/y.txt", "/d2/z.csv"):
            c.put_file(path, path.encode())
    return "repo@master"


def test_glob_file_matches_pachyderm_patterns(store: Store, tree: str):
    expected = {
        "/": ["/"],
        "/*": ["/a.txt", "/b.txt", "/c.csv", "/d1", "/d2"],
        "/*/*": ["/d1/x.csv", "/d1/y.txt", "/d2/z.csv"],
        "/**": [
            "/a.txt", "/b.txt", "/c.csv", "/d1", "/d1/x.csv", "/d1/y.txt", "/d2", "/d2/z.csv",
        ],
        "/*.csv": ["/c.csv"],
        "/**.csv": ["/c.csv", "/d1/x.csv", "/d2/z.csv"],
        "/{a,b}.txt": ["/a.txt", "/b.txt"],
        "/d1/*": ["/d1/x.csv", "/d1/y.txt"],
        "/d?": ["/d1", "/d2"],
        "/nothing*": [],
    }  # fmt: skip

    found = {
        pattern: [f.path for f in store.glob_file(f"{tree}:{pattern}")] for pattern in expected
    }

    assert found == expected


def test_glob_file_reports_types_and_sizes(store: Store, tree: str):
    by_path = {f.path: f for f in store.glob_file(f"{tree}:/*")}

    assert by_path["/d1"].type == "dir"
    assert by_path["/d1"].size == len(b"/d1/x.csv") + len(b"/d1/y.txt")
    assert by_path["/a.txt"].type == "file"
    assert by_path["/a.txt"].size == len(b"/a.txt")


# ---------------------------------------------------------------- diff


def test_diff_file_between_two_commits_lists_added_removed_and_changed(store: Store, repo: str):
    with store.commit("repo@master") as c:
        c.put_file("/same.txt", b"same")
        c.put_file("/changed.txt", b"old")
        c.put_file("/removed.txt", b"gone!")
    old = store.inspect_commit("repo@master")
    with store.commit("repo@master") as c:
        c.put_file("/changed.txt", b"newer")
        c.delete_file("/removed.txt")
        c.put_file("/dir/added.txt", b"ad")
    with store.commit("repo@master") as c:
        c.put_file("/later.txt", b"later")

    diff = store.diff_file("repo@master", f"repo@{old.id}")

    assert [(d.path, d.op, d.old_size, d.new_size) for d in diff] == [
        ("/changed.txt", "changed", 3, 5),
        ("/dir/added.txt", "added", None, 2),
        ("/later.txt", "added", None, 5),
        ("/removed.txt", "removed", 5, None),
    ]


def test_diff_file_without_a_second_ref_compares_with_the_parent(store: Store, repo: str):
    store.put_file("repo@master:/a.txt", b"a")
    store.put_file("repo@master:/b.txt", b"b")

    diff = store.diff_file("repo@master")

    assert [(d.path, d.op) for d in diff] == [("/b.txt", "added")]
    assert [(d.path, d.op) for d in store.diff_file("repo@master^")] == [("/a.txt", "added")]


def test_diff_file_of_equal_commits_is_empty(store: Store, repo: str):
    store.put_file("repo@master:/a.txt", b"a")

    assert store.diff_file("repo@master", "repo@master") == []


# ---------------------------------------------------------------- copy and delete


def test_copy_file_copies_a_file_by_reference(store: Store, repo: str):
    store.put_file("repo@master:/a.bin", os.urandom(4096))
    before = object_keys(store)

    store.copy_file("repo@master:/a.bin", "repo@master:/copy.bin")

    assert store.get_file("repo@master:/copy.bin") == store.get_file("repo@master:/a.bin")
    new_keys = object_keys(store) - before
    assert len(new_keys) <= 2  # a tree node or two, no file data
    assert all(store.backend.fs.size(k) < 4096 for k in new_keys)


def test_copy_file_copies_a_directory_from_another_branch_by_reference(store: Store, repo: str):
    with store.commit("repo@source") as c:
        for i in range(12):
            c.put_file(f"/data/{i}.bin", os.urandom(1000))
    store.create_branch("repo@master")
    before = object_keys(store)

    store.copy_file("repo@source:/data", "repo@master:/imported")

    assert len(object_keys(store)) - len(before) <= 2
    assert _files(store, "repo@master") == {
        f"/imported/{k[len('/data/') :]}": v for k, v in _files(store, "repo@source").items()
    }


def test_delete_file_removes_a_file(store: Store, repo: str):
    with store.commit("repo@master") as c:
        c.put_file("/a.txt", b"a")
        c.put_file("/b.txt", b"b")

    store.delete_file("repo@master:/a.txt")

    assert _files(store, "repo@master") == {"/b.txt": b"b"}
    assert store.get_file("repo@master^:/a.txt") == b"a"


def test_delete_file_removes_a_directory_and_everything_below(store: Store, repo: str):
    with store.commit("repo@master") as c:
        c.put_file("/keep.txt", b"k")
        c.put_file("/dir/a.txt", b"a")
        c.put_file("/dir/sub/b.txt", b"b")

    store.delete_file("repo@master:/dir")

    assert _files(store, "repo@master") == {"/keep.txt": b"k"}


def test_deleting_the_last_file_of_a_directory_removes_the_directory(store: Store, repo: str):
    with store.commit("repo@master") as c:
        c.put_file("/keep.txt", b"k")
        c.put_file("/dir/sub/only.txt", b"o")

    store.delete_file("repo@master:/dir/sub/only.txt")

    assert [f.path for f in store.walk_file("repo@master")] == ["/keep.txt"]
    with pytest.raises(PathNotFound):
        store.list_file("repo@master:/dir")


# ---------------------------------------------------------------- paths


def test_paths_with_and_without_leading_slash_name_one_file(store: Store, repo: str):
    store.put_file("repo@master:a/b.txt", b"first")
    store.put_file("repo@master:/a/b.txt", b"second")

    assert [f.path for f in store.walk_file("repo@master")] == ["/a", "/a/b.txt"]
    assert store.get_file("repo@master:a/b.txt") == b"second"
    assert store.get_file("repo@master:/a/b.txt/") == b"second"


def test_unicode_twins_in_nfc_and_nfd_name_one_file(store: Store, repo: str):
    nfc = unicodedata.normalize("NFC", "/café.txt")
    nfd = unicodedata.normalize("NFD", "/café.txt")
    assert nfc != nfd

    store.put_file(f"repo@master:{nfd}", b"decomposed")
    store.put_file(f"repo@master:{nfc}", b"composed")

    assert [f.path for f in store.list_file("repo@master")] == [nfc]
    assert store.get_file(f"repo@master:{nfd}") == b"composed"


@pytest.mark.parametrize(
    "path",
    ["/a/../b", "/..", "/a/./b", "/.", "//a", "/a//b", "/a\x00b", "/a\nb", "/a\x1fb", "/a\x7fb"],
    ids=["dotdot", "root-dotdot", "dot", "root-dot", "leading-2slash", "2slash", "nul", "newline",
         "unit-sep", "del"],
)  # fmt: skip
def test_bad_paths_are_rejected_with_invalid_path(store: Store, repo: str, path: str):
    store.put_file("repo@master:/b", b"b")

    with pytest.raises(InvalidPath) as raised:
        store.put_file(f"repo@master:{path}", b"x")
    with pytest.raises(InvalidPath), store.commit("repo@master") as c:
        c.put_file(path, b"x")

    assert repr(path) in str(raised.value)
    assert [f.path for f in store.walk_file("repo@master")] == ["/b"]


def test_missing_paths_raise_path_not_found(store: Store, repo: str):
    store.put_file("repo@master:/a.txt", b"a")

    with pytest.raises(PathNotFound, match="/missing"):
        store.get_file("repo@master:/missing")
    with pytest.raises(PathNotFound):
        store.list_file("repo@master:/missing")
    with pytest.raises(PathNotFound):
        store.inspect_file("repo@master:/a.txt/below")
    with pytest.raises(PathNotFound):
        store.delete_file("repo@master:/missing")
    with pytest.raises(PathNotFound):
        store.copy_file("repo@master:/missing", "repo@master:/b")
    with pytest.raises(FileNotFoundError):  # PathNotFound is a FileNotFoundError too
        store.open_file("repo@master:/missing")
    assert len(store.list_commit("repo@master")) == 1


# ---------------------------------------------------------------- dedup


def test_putting_the_same_content_twice_stores_one_object_even_across_repos(
    store: Store, repo: str
):
    store.create_repo("other")
    content = os.urandom(10_000)
    store.put_file("repo@master:/one.bin", content)
    after_first = object_keys(store)

    store.put_file("repo@master:/two.bin", content)
    store.put_file("other@master:/three.bin", content)

    chunk = store.inspect_file("repo@master:/one.bin").hash
    assert store.inspect_file("other@master:/three.bin").hash == chunk
    assert sum(1 for k in object_keys(store) if k.endswith(chunk)) == 1
    assert {k for k in object_keys(store) - after_first if k.endswith(chunk)} == set()
    large = [k for k in object_keys(store) if store.backend.fs.size(k) >= 10_000]
    assert len(large) == 1


def test_open_file_is_seekable_across_chunks(tmp_path, monkeypatch):
    import io

    from dagster_versioned.store import Store, objects

    monkeypatch.setattr(objects, "CHUNK_SIZE", 1000)
    store = Store.open(str(tmp_path / "seek"))
    store.create_repo("r")
    data = bytes(range(256)) * 14
    store.put_file("r@master:/x", io.BytesIO(data))
    with store.open_file("r@master:/x") as f:
        for pos in (0, 999, 1000, 2500, len(data) - 1, len(data)):
            f.seek(pos)
            assert f.read(10) == data[pos : pos + 10]
        f.seek(-5, io.SEEK_END)
        assert f.read() == data[-5:]


def test_a_large_file_put_as_bytes_is_chunked_like_a_stream(tmp_path):
    """Regression (found by the state machine): bytes over ``CHUNK_SIZE`` were stored as one
    object, so the same content had another hash than when put from a stream or a file."""
    from dagster_versioned.store.objects import CHUNK_SIZE

    store = Store.open(str(tmp_path / "s"))
    store.create_repo("r")
    data = bytes(range(256)) * (CHUNK_SIZE // 256) + b"!"
    store.put_file("r@master:/as-bytes", data)
    store.put_file("r@master:/as-stream", io.BytesIO(data))

    as_bytes = store.inspect_file("r@master:/as-bytes")
    assert as_bytes.hash == store.inspect_file("r@master:/as-stream").hash
    assert store.get_file("r@master:/as-bytes") == data
