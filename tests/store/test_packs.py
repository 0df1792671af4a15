"""Packs: a commit's small new objects are stored as one pack object, and read back unchanged.

Most tests run on memory, local disk and the moto S3 server (the ``store`` fixture); the ones
that age files with ``os.utime`` or corrupt them in place run on local disk.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from dagster_versioned.cli.main import load_commands
from dagster_versioned.errors import CorruptStore
from dagster_versioned.store import Store
from dagster_versioned.store.fs import VersionedFileSystem
from dagster_versioned.store.maintenance import fsck, gc
from dagster_versioned.store.objects import PACK_MIN_OBJECTS, ObjectId, hash_bytes, object_key
from dagster_versioned.store.packs import encode_pack, list_packs, load_index, pack_key, parse_pack
from dagster_versioned.testing.s3server import MotoServer, count_by_kind

HOUR = 3600.0


def make_files(root: Path, n: int, size: int = 1000, *, seed: str = "") -> dict[str, bytes]:
    """``n`` distinct files of ``size`` bytes in 4 folders below ``root``; path -> bytes."""
    files = {}
    for i in range(n):
        rel = f"d{i % 4}/f{i:04d}.bin"
        data = (f"{seed}{i}:".encode() + os.urandom(size))[:size]
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
        files[f"/{rel}"] = data
    return files


def commit_dir(store: Store, repo: str, local: Path) -> None:
    with store.commit(f"{repo}@master") as c:
        c.put_file("/", local)


def loose_oids(store: Store) -> set[str]:
    """Ids of the objects stored loose (``objects/<2 hex>/<id>``)."""
    found = set()
    for prefix in store.backend.listdir("objects"):
        found.update(n for n in store.backend.listdir(f"objects/{prefix}") if len(n) == 64)
    return found


def packed_oids(store: Store) -> set[str]:
    return {e.oid for name in list_packs(store.backend) for e in load_index(store.backend, name)}


def file_oid(store: Store, ref: str) -> str:
    return store.inspect_file(ref).hash


def age(path: Path, seconds: float) -> None:
    old = time.time() - seconds
    os.utime(path, (old, old))


@pytest.fixture
def data(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    root = tmp_path / "data"
    return root, make_files(root, 100)


# ---------------------------------------------------------------- writing


def test_a_commit_of_100_small_files_writes_one_pack_and_no_loose_file_objects(store, data):
    local, files = data
    store.create_repo("r")

    commit_dir(store, "r", local)

    assert len(list_packs(store.backend)) == 1
    oids = {file_oid(store, f"r@master:{p}") for p in files}
    assert oids <= packed_oids(store)
    assert not oids & loose_oids(store)
    # The tree (5 nodes here, fewer than a pack's minimum) is stored loose as before.
    assert len(loose_oids(store)) < PACK_MIN_OBJECTS


def test_every_packed_file_reads_back_byte_for_byte_through_every_reader(
    store, store_location, data, tmp_path
):
    local, files = data
    store.create_repo("r")
    commit_dir(store, "r", local)
    url, options = store_location
    reader = Store.open(url, **options)  # like a new process: no pack index loaded yet

    out = tmp_path / "out.bin"
    for path, content in files.items():
        assert reader.get_file(f"r@master:{path}") == content
        with reader.open_file(f"r@master:{path}") as f:
            assert f.read() == content
        assert reader.get_file_to(f"r@master:{path}", out) == len(content)  # kernel copy locally
        assert out.read_bytes() == content


def test_a_cold_reader_finds_objects_across_several_packs(store, store_location, tmp_path):
    store.create_repo("r")
    one = make_files(tmp_path / "one", 20, seed="one")
    two = make_files(tmp_path / "two", 20, seed="two")
    commit_dir(store, "r", tmp_path / "one")
    with store.commit("r@master") as c:
        c.put_file("/two", tmp_path / "two")
    url, options = store_location

    reader = Store.open(url, **options)  # reads both packs' indexes (concurrently off local disk)

    assert len(list_packs(store.backend)) == 2
    assert all(reader.get_file(f"r@master:{p}") == b for p, b in one.items())
    assert all(reader.get_file(f"r@master:/two{p}") == b for p, b in two.items())


def test_dv_fsspec_reads_packed_files_and_seeks_across_packed_chunks(tmp_path: Path):
    store = Store.open(str(tmp_path / "store"))
    store.create_repo("r")
    local = tmp_path / "data"
    files = make_files(local, 20)
    commit_dir(store, "r", local)
    a, b = files["/d0/f0000.bin"], files["/d1/f0001.bin"]
    store.put_file("r@master:/joined.bin", a)
    store.put_file("r@master:/joined.bin", b, append=True)
    for chunk in (hash_bytes(a), hash_bytes(b)):  # its two chunks: read them from the pack
        store.backend.delete(object_key(chunk))

    fs = VersionedFileSystem(storage=str(tmp_path / "store"), skip_instance_cache=True)
    assert fs.cat_file("dv://r@master/d2/f0002.bin") == files["/d2/f0002.bin"]
    with fs.open("dv://r@master/joined.bin", "rb") as f:
        f.seek(len(a) - 10)
        assert f.read(20) == a[-10:] + b[:10]


def test_committing_the_same_files_in_another_repo_writes_no_new_pack(store, store_location, data):
    local, _files = data
    store.create_repo("r")
    commit_dir(store, "r", local)
    packs, loose = set(list_packs(store.backend)), loose_oids(store)
    url, options = store_location
    other = Store.open(url, **options)  # a fresh store: dedups against the packs it lists
    other.create_repo("copy")

    commit_dir(other, "copy", local)

    assert set(list_packs(store.backend)) == packs
    assert loose_oids(store) == loose  # the identical tree nodes were there already
    assert other.get_file("copy@master:/d3/f0003.bin") == (local / "d3/f0003.bin").read_bytes()


def test_a_batch_below_the_pack_minimum_stays_loose(store, tmp_path):
    files = make_files(tmp_path / "few", PACK_MIN_OBJECTS - 1)
    store.create_repo("r")

    commit_dir(store, "r", tmp_path / "few")

    assert list_packs(store.backend) == []
    assert {file_oid(store, f"r@master:{p}") for p in files} <= loose_oids(store)


def test_objects_over_64_kib_stay_loose_next_to_a_pack_of_the_small_ones(store, tmp_path):
    small = make_files(tmp_path / "mixed", 20)
    big = os.urandom(100 * 1024)
    (tmp_path / "mixed" / "big.bin").write_bytes(big)
    store.create_repo("r")

    commit_dir(store, "r", tmp_path / "mixed")

    big_oid = file_oid(store, "r@master:/big.bin")
    assert big_oid in loose_oids(store)
    assert big_oid not in packed_oids(store)
    assert {file_oid(store, f"r@master:{p}") for p in small} <= packed_oids(store)
    assert store.get_file("r@master:/big.bin") == big


def test_big_files_in_a_folder_stay_chunked_and_loose(store, tmp_path):
    make_files(tmp_path / "big", 20, size=80 * 1024)
    store.create_repo("r")

    commit_dir(store, "r", tmp_path / "big")

    assert list_packs(store.backend) == []


@pytest.mark.s3
def test_a_commit_of_100_files_on_s3_is_a_handful_of_puts(aws_credentials, tmp_path, data):
    local, files = data
    with MotoServer(tmp_path / "moto.log") as server:
        bucket = server.create_bucket("packs")
        store = Store.open(f"s3://{bucket}/store", **server.storage_options)
        store.create_repo("r")
        mark = server.mark()

        commit_dir(store, "r", local)

        puts = count_by_kind(server.requests_since(mark))["PUT"]
        assert 1 <= puts <= 15, f"{puts} PUTs for a 100-file commit"  # one per file was 100+
        assert len(list_packs(store.backend)) == 1
        assert store.get_file("r@master:/d1/f0009.bin") == files["/d1/f0009.bin"]


# ---------------------------------------------------------------- readers and writers


def test_a_store_opened_before_another_process_packed_objects_still_finds_them(tmp_path: Path):
    url = str(tmp_path / "store")
    reader = Store.open(url)
    reader.create_repo("r")
    first = make_files(tmp_path / "one", 20, seed="one")
    commit_dir(reader, "r", tmp_path / "one")
    assert reader.get_file("r@master:/d0/f0000.bin") == first["/d0/f0000.bin"]  # index loaded
    second = make_files(tmp_path / "two", 20, seed="two")

    script = f"""
        from pathlib import Path
        from dagster_versioned.store import Store
        with Store.open({url!r}).commit("r@master") as c:
            c.put_file("/two", Path({str(tmp_path / "two")!r}))
    """
    subprocess.run([sys.executable, "-c", textwrap.dedent(script)], check=True)

    assert len(list_packs(reader.backend)) == 2
    for path, content in second.items():
        assert reader.get_file(f"r@master:/two{path}") == content


def test_a_pack_is_named_by_its_hash_and_parses_back_to_its_objects():
    objects = [(hash_bytes(bytes([i]) * i), bytes([i]) * i) for i in range(1, 40)]

    name, payload, rows = encode_pack([(str(o), d) for o, d in objects])

    assert name == hash_bytes(payload)
    entries = parse_pack(name, payload)
    assert [(bytes.fromhex(e.oid), e.offset, e.length) for e in entries] == rows
    by_oid = {e.oid: payload[e.offset : e.offset + e.length] for e in entries}
    assert by_oid == {str(o): d for o, d in objects}


def test_a_pack_index_larger_than_one_tail_read_is_read_with_a_second_range(store):
    objects = [(str(hash_bytes(str(i).encode())), str(i).encode()) for i in range(3000)]
    name, payload, _rows = encode_pack(objects)
    store.backend.write(pack_key(name), payload)

    assert load_index(store.backend, name) == parse_pack(name, payload)
    assert {e.oid for e in load_index(store.backend, name)} == {o for o, _ in objects}


def test_read_range_reads_a_range_and_a_suffix_longer_than_the_object(store):
    store.backend.write("x/blob", b"0123456789")

    assert store.backend.read_range("x/blob", 2, 5) == b"234"
    assert store.backend.read_range("x/blob", -3) == b"789"
    assert store.backend.read_range("x/blob", -100) == b"0123456789"


# ---------------------------------------------------------------- gc


@pytest.fixture
def local_store(tmp_path: Path) -> Store:
    return Store.open(str(tmp_path / "store"))


def _pack_path(store: Store) -> Path:
    (name,) = list_packs(store.backend)
    return Path(store.backend.path(pack_key(name)))


def packed_repo(store: Store, tmp_path: Path, repo: str = "r") -> tuple[Path, dict[str, bytes]]:
    """Repo ``repo`` with one commit of 30 small files: one pack (its path) and the files."""
    files = make_files(tmp_path / "data", 30)
    store.create_repo(repo)
    commit_dir(store, repo, tmp_path / "data")
    return _pack_path(store), files


def test_gc_deletes_a_fully_dead_pack_older_than_the_grace_period(local_store, tmp_path):
    pack, _ = packed_repo(local_store, tmp_path)
    size = pack.stat().st_size
    local_store.delete_repo("r")
    age(pack, 2 * HOUR)

    report = gc(local_store, grace=HOUR)

    assert not pack.exists()
    assert report.packs_deleted == [f"packs/{pack.stem}.pack"]
    assert report.bytes_freed >= size
    assert len(report.deleted) >= 30


def test_gc_keeps_a_dead_pack_younger_than_the_grace_period(local_store, tmp_path):
    pack, _ = packed_repo(local_store, tmp_path)
    local_store.delete_repo("r")

    report = gc(local_store, grace=HOUR)

    assert pack.exists()
    assert report.packs_deleted == []
    assert report.kept_young >= 30


def test_gc_keeps_a_partly_live_pack_whole_and_reports_its_dead_bytes(local_store, tmp_path):
    pack, files = packed_repo(local_store, tmp_path, "a")
    local_store.create_repo("b")
    kept = sorted(files)[:10]
    for path in kept:  # repo b references a third of the pack's objects
        local_store.put_file(f"b@master:{path}", files[path])
    local_store.delete_repo("a")
    age(pack, 2 * HOUR)

    report = gc(local_store, grace=HOUR)

    assert pack.exists()
    assert report.packs_partly_dead == 1
    assert report.dead_bytes_kept == sum(len(files[p]) for p in sorted(files)[10:])
    out = (
        CliRunner()
        .invoke(load_commands(), ["--storage", local_store.backend.url, "gc", "--grace", "1h"])
        .output
    )
    assert "kept 1 packs that still hold referenced objects, with 19.53KiB" in out
    reader = Store.open(local_store.backend.url)
    for path in kept:
        assert reader.get_file(f"b@master:{path}") == files[path]


def test_reusing_objects_of_an_old_pack_refreshes_its_age_so_gc_keeps_it(local_store, tmp_path):
    pack, _ = packed_repo(local_store, tmp_path, "a")
    local_store.delete_repo("a")
    age(pack, 2 * HOUR)
    writer = Store.open(local_store.backend.url)
    writer.create_repo("b")

    with writer.commit("b@master") as c:  # reuses the dead pack's objects
        c.put_file("/", tmp_path / "data")
        report = gc(local_store, grace=HOUR)  # runs before the commit lands

    assert pack.exists()
    assert report.packs_deleted == []
    assert fsck(Store.open(local_store.backend.url)).ok


def test_on_object_stores_objects_of_an_old_pack_are_stored_again_when_reused(tmp_path):
    """Object stores cannot refresh an object's age without rewriting it: a writer reusing
    objects of a pack gc could soon take puts them into its own new pack instead."""
    url = f"memory://packs-{tmp_path.name}"
    store = Store.open(url)
    try:
        files = make_files(tmp_path / "data", 30)
        store.create_repo("a")
        commit_dir(store, "a", tmp_path / "data")
        (old,) = list_packs(store.backend)
        store.backend.fs.store[store.backend.path(pack_key(old))].created = datetime.fromtimestamp(
            time.time() - 2 * HOUR, tz=UTC
        )
        writer = Store.open(url)
        writer.create_repo("b")
        extra = make_files(tmp_path / "data" / "extra", 5, seed="extra")

        commit_dir(writer, "b", tmp_path / "data")

        (new,) = set(list_packs(store.backend)) - {old}
        oids = {file_oid(writer, f"b@master:{p}") for p in files}
        oids |= {file_oid(writer, f"b@master:/extra{p}") for p in extra}
        assert oids == {e.oid for e in load_index(store.backend, new)}
    finally:
        store.backend.fs.rm(store.backend.root, recursive=True)


# ---------------------------------------------------------------- fsck


def test_fsck_counts_packed_objects_and_finds_nothing_wrong(local_store, tmp_path):
    make_files(tmp_path / "data", 30)
    local_store.create_repo("r")
    commit_dir(local_store, "r", tmp_path / "data")

    report = fsck(Store.open(local_store.backend.url))

    assert report.ok, report.problems
    assert report.objects == len(loose_oids(local_store)) + 30


def test_fsck_reports_a_corrupted_packed_object(local_store, tmp_path):
    pack, files = packed_repo(local_store, tmp_path)
    oid = file_oid(local_store, "r@master:/d2/f0002.bin")
    (entry,) = [e for e in load_index(local_store.backend, pack.stem) if e.oid == oid]
    raw = bytearray(pack.read_bytes())
    raw[entry.offset + 5] ^= 0xFF
    pack.write_bytes(bytes(raw))

    report = fsck(Store.open(local_store.backend.url))

    assert not report.ok
    assert f"object {oid} in pack packs/{pack.stem}.pack is corrupt" in "\n".join(report.problems)
    assert any(p.startswith("commit r@") and oid in p for p in report.problems)
    strict = Store.open(local_store.backend.url)
    strict.objects.verify = True
    with pytest.raises(CorruptStore, match=oid):
        strict.get_file("r@master:/d2/f0002.bin")
    assert (
        Store.open(local_store.backend.url).get_file("r@master:/d0/f0000.bin")
        == files["/d0/f0000.bin"]
    )


def test_fsck_reports_a_truncated_pack_and_reads_name_it(local_store, tmp_path):
    pack, _ = packed_repo(local_store, tmp_path)
    with pack.open("r+b") as f:
        f.truncate(pack.stat().st_size - 7)

    report = fsck(Store.open(local_store.backend.url))

    problems = "\n".join(report.problems)
    assert f"pack packs/{pack.stem}.pack is corrupt" in problems
    assert "referenced but missing" in problems
    with pytest.raises(CorruptStore, match=f"packs/{pack.stem}.pack is corrupt"):
        Store.open(local_store.backend.url).get_file("r@master:/d1/f0001.bin")


def test_a_reader_of_a_pack_cut_inside_its_objects_gets_corrupt_store(local_store, tmp_path):
    pack, _ = packed_repo(local_store, tmp_path)
    local_store.get_file("r@master:/d0/f0000.bin")  # this store has read the pack's index
    with pack.open("r+b") as f:
        f.truncate(20)

    with pytest.raises(CorruptStore, match="cut short"):
        local_store.get_file("r@master:/d3/f0007.bin")
    with (tmp_path / "out").open("wb") as out, pytest.raises(CorruptStore, match="cut short"):
        local_store.objects.export_chunks(
            [ObjectId(file_oid(local_store, "r@master:/d3/f0007.bin"))], out
        )


# ---------------------------------------------------------------- index cache (object stores)


def _pack_gets(server: MotoServer, mark: int) -> int:
    return sum(1 for r in server.requests_since(mark) if r.kind == "GET" and "/packs/" in r.path)


@pytest.fixture
def packed_on_s3(aws_credentials, tmp_path, data, monkeypatch):
    """``(server, url, files, cache)``: repo ``r`` on a fresh S3 server, its 100 files in one
    pack, pack indexes cached under ``cache``."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("DAGSTER_VERSIONED_CACHE", str(cache))
    local, files = data
    with MotoServer(tmp_path / "moto.log") as server:
        url = f"s3://{server.create_bucket('cache')}/store"
        writer = Store.open(url, **server.storage_options)
        writer.create_repo("r")
        commit_dir(writer, "r", local)
        yield server, url, files, cache


@pytest.mark.s3
def test_a_cold_reader_on_s3_reads_pack_indexes_from_the_local_cache(packed_on_s3):
    """A new process does not re-fetch the index of every pack: packs never change, so the
    index read once is kept on local disk and shared by every later reader."""
    server, url, files, _ = packed_on_s3
    mark = server.mark()
    first = Store.open(url, **server.storage_options)
    assert first.get_file("r@master:/d1/f0009.bin") == files["/d1/f0009.bin"]
    fetched = _pack_gets(server, mark)

    mark = server.mark()
    second = Store.open(url, **server.storage_options)
    assert second.get_file("r@master:/d0/f0004.bin") == files["/d0/f0004.bin"]
    # the second reader reads only the object's own range from the pack, no index
    assert fetched >= 2
    assert _pack_gets(server, mark) == 1


@pytest.mark.s3
def test_an_altered_cached_index_is_not_trusted(packed_on_s3):
    server, url, files, cache = packed_on_s3
    Store.open(url, **server.storage_options).get_file("r@master:/d0/f0000.bin")
    (cached,) = list(cache.rglob("*.idx"))
    raw = bytearray(cached.read_bytes())
    raw[-5] ^= 0xFF  # an offset or length in the cached index
    cached.write_bytes(bytes(raw))

    reader = Store.open(url, **server.storage_options)
    for path, content in files.items():
        assert reader.get_file(f"r@master:{path}") == content


def test_a_local_store_keeps_no_index_cache(tmp_path, monkeypatch, data):
    """On local disk the pack is as near as a cache would be: nothing is copied."""
    monkeypatch.setenv("DAGSTER_VERSIONED_CACHE", str(tmp_path / "cache"))
    local, files = data
    url = str(tmp_path / "store")
    writer = Store.open(url)
    writer.create_repo("r")
    commit_dir(writer, "r", local)
    assert Store.open(url).get_file("r@master:/d0/f0000.bin") == files["/d0/f0000.bin"]
    assert not (tmp_path / "cache").exists()


# ---------------------------------------------------------------- large packs


def test_a_large_pack_is_searched_in_its_stored_index_and_reads_back(
    store, store_location, data, monkeypatch
):
    """A cold reader does not decode a large pack's whole index: it bisects the stored one."""
    from dagster_versioned.store import packs

    monkeypatch.setattr(packs, "SORTED_MIN", 32)  # the data's 100-object pack counts as large
    local, files = data
    store.create_repo("r")
    commit_dir(store, "r", local)
    url, options = store_location

    reader = Store.open(url, **options)
    for path, content in files.items():
        assert reader.get_file(f"r@master:{path}") == content
    assert [len(i.raw) // packs.ENTRY_SIZE for i in reader.objects.packs._sorted] == [100]
    assert reader.objects.packs.lookup("0" * 64) is None


def test_an_entry_of_a_large_pack_pointing_outside_its_data_is_corrupt(
    local_store, tmp_path, monkeypatch
):
    from dagster_versioned.store import packs

    monkeypatch.setattr(packs, "SORTED_MIN", 16)
    pack, files = packed_repo(local_store, tmp_path)
    payload = bytearray(pack.read_bytes())
    index_offset = int.from_bytes(payload[-20:-12], "little")
    first_offset_at = index_offset + 32  # the first entry's u64 offset
    payload[first_offset_at : first_offset_at + 8] = (len(payload) * 2).to_bytes(8, "little")
    pack.write_bytes(bytes(payload))

    reader = Store.open(local_store.backend.url)

    def read_all() -> None:
        for path in files:
            reader.get_file(f"r@master:{path}")

    with pytest.raises(CorruptStore, match="lies outside the pack's data"):
        read_all()


def test_tree_nodes_go_into_tree_packs_that_a_listing_reads_alone(store, store_location, tmp_path):
    """Every operation reads tree nodes, few read file contents: a cold reader listing a
    folder reads the indexes of the tree packs, not of the (larger) file packs."""
    files = {}
    for d in range(20):  # 20 folders: more new tree nodes than PACK_MIN_OBJECTS
        for i in range(2):
            (tmp_path / "data" / f"d{d:02d}").mkdir(parents=True, exist_ok=True)
            files[f"/d{d:02d}/f{i}.bin"] = os.urandom(500)
            (tmp_path / "data" / f"d{d:02d}" / f"f{i}.bin").write_bytes(
                files[f"/d{d:02d}/f{i}.bin"]
            )
    store.create_repo("r")
    commit_dir(store, "r", tmp_path / "data")
    names = list_packs(store.backend)
    assert sorted(n.endswith(".tree") for n in names) == [False, True]
    url, options = store_location

    reader = Store.open(url, **options)
    assert [i.path for i in reader.list_file("r@master:/d07")] == ["/d07/f0.bin", "/d07/f1.bin"]
    assert all(n.endswith(".tree") for n in reader.objects.packs._known)
    assert reader.get_file("r@master:/d07/f1.bin") == files["/d07/f1.bin"]
    assert set(reader.objects.packs._known) == set(names)
