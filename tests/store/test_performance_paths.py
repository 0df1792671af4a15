"""The fast paths added for the benchmarks (issue 10) keep the store's behaviour.

Each runs on every backend: the local-disk fast path (kernel copies, one open per file) and the
object-store one (conditional PUTs instead of existence checks) must give the same answers.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dagster_versioned.errors import CorruptStore, PathNotFound
from dagster_versioned.store import Store, Trigger
from dagster_versioned.store.objects import CHUNK_SIZE, ObjectId, object_key
from dagster_versioned.store.trees import Entry


def test_get_file_to_writes_the_files_bytes_across_chunks(store: Store, tmp_path: Path):
    data = os.urandom(CHUNK_SIZE + 12345)  # two chunks, the second short
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    store.create_repo("data")
    store.put_file("data@master:/big.bin", src)

    size = store.get_file_to("data@master:/big.bin", tmp_path / "out.bin")

    assert size == len(data)
    assert (tmp_path / "out.bin").read_bytes() == data


def test_get_file_to_on_a_directory_raises_path_not_found(store: Store, tmp_path: Path):
    store.create_repo("data")
    store.put_file("data@master:/dir/a.txt", b"a")

    with pytest.raises(PathNotFound):
        store.get_file_to("data@master:/dir", tmp_path / "out")


def test_get_file_to_with_a_missing_object_raises_corrupt_store(store: Store, tmp_path: Path):
    store.create_repo("data")
    store.put_file("data@master:/a.txt", b"some bytes")
    chunk = store.inspect_file("data@master:/a.txt").hash
    store.backend.delete(object_key(chunk))

    with pytest.raises(CorruptStore):
        store.get_file_to("data@master:/a.txt", tmp_path / "out")


def test_putting_the_same_bytes_twice_stores_one_object_and_both_commits_read_them(store: Store):
    store.create_repo("data")
    store.put_file("data@master:/a.txt", b"same")
    store.put_file("data@master:/b.txt", b"same")

    assert store.get_file("data@master:/a.txt") == store.get_file("data@master:/b.txt") == b"same"
    assert (
        store.inspect_file("data@master:/a.txt").hash
        == store.inspect_file("data@master:/b.txt").hash
    )


def test_put_dir_skips_links_leaving_the_directory_and_special_files(store: Store, tmp_path: Path):
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "b.txt").write_text("b")
    (src / "a.txt").write_text("a")
    (src / "inside-link.txt").symlink_to(src / "a.txt")
    (src / "outside-link.txt").symlink_to(outside)
    os.mkfifo(src / "pipe")  # reading it would block forever
    store.create_repo("data")

    store.put_file("data@master:/", src)

    files = sorted(i.path for i in store.walk_file("data@master:/") if i.type == "file")
    assert files == ["/a.txt", "/inside-link.txt", "/sub/b.txt"]
    assert store.get_file("data@master:/inside-link.txt") == b"a"


def test_a_trigger_set_after_commits_without_one_fires_on_the_next_commit(store: Store):
    # Commits read the repo's trigger index instead of every branch head: a trigger set later
    # must be in the index, and a commit must find it there.
    store.create_repo("data")
    store.put_file("data@master:/a.txt", b"a")
    store.create_branch("data@staging", trigger=Trigger(branch="master", commits=1))

    landed = store.put_file("data@master:/b.txt", b"b")

    assert landed is not None
    assert store.inspect_branch("data@staging").head == landed.id


def test_many_puts_in_one_commit_are_all_stored_before_it_lands(store: Store):
    # On object stores the uploads run on IO threads while the block goes on; the commit
    # waits for them, so a reader of the new head finds every object.
    store.create_repo("data")
    blobs = {f"/d{i % 3}/f{i:03d}": os.urandom(100 + i) for i in range(60)}

    with store.commit("data@master") as c:
        for path, data in blobs.items():
            c.put_file(path, data)

    fresh = Store.open(store.backend.url, **_options(store))
    assert {p: fresh.get_file(f"data@master:{p}") for p in blobs} == blobs


def _options(store: Store) -> dict[str, object]:
    fs = store.backend.fs if store.backend.protocol not in ("file", "memory") else None
    return dict(fs.storage_options) if fs is not None else {}


@pytest.mark.parametrize(
    "entry",
    [
        Entry("file", 0, 1),
        Entry("file", 12, 1, chunks=(ObjectId("ab" * 32),)),
        Entry("file", 2**40, 1, chunks=(ObjectId("cd" * 32), ObjectId("ef" * 32))),
        Entry("dir", 7, 3, node=ObjectId("01" * 32)),
        Entry("file", 1, 1, chunks=(ObjectId('we"ird\\é'),)),  # only a corrupt node holds this
        Entry("dir", 0, 0, node=None),
    ],
)
def test_an_entrys_text_is_the_canonical_json_of_it(entry: Entry):
    canonical = json.dumps(entry.to_json(), sort_keys=True, separators=(",", ":"))

    assert entry.text() == canonical


def test_an_entry_with_an_empty_or_quoted_chunk_id_still_encodes_canonically():
    for chunks in [("",), ("ab", ""), ('a","b',), ("ab", "c d")]:
        entry = Entry("file", 3, 1, chunks=tuple(ObjectId(c) for c in chunks))

        assert entry.text() == json.dumps(entry.to_json(), separators=(",", ":"))
