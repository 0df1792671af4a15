"""One reader of a file's chunks serves ``Store.open_file`` and ``dv://`` files alike.

Ranged reads touch only the chunks they span and fetch each chunk once however many ranges
fall inside it (fsspec reads 5 MiB blocks of 16 MiB chunks), and a file whose one chunk is
cut short reads as corrupt, never as a shorter file.
"""

from __future__ import annotations

import io
from pathlib import Path

import fsspec
import pytest

from dagster_versioned.errors import CorruptObject
from dagster_versioned.store import Store, objects
from dagster_versioned.store.objects import ObjectId, object_key

DATA = bytes(range(256)) * 14  # 3584 bytes: four chunks of 1000 bytes


@pytest.fixture
def chunked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Store, list[ObjectId]]:
    monkeypatch.setattr(objects, "CHUNK_SIZE", 1000)
    store = Store.open(str(tmp_path / "store"))
    store.create_repo("r")
    store.put_file("r@master:/x", io.BytesIO(DATA))
    entry = store.lookup_entry("r@master:/x")[0]
    return store, list(entry.chunks)


def test_a_range_across_chunk_boundaries_reads_exactly_those_bytes(chunked):
    store, chunks = chunked
    reader = store.objects.open_chunks(chunks, len(DATA))

    assert len(chunks) == 4
    assert reader.read_range(990, 2010) == DATA[990:2010]
    assert reader.read_range(3500, 9000) == DATA[3500:]  # past the end: what there is
    assert reader.read_range(5000, 6000) == b""
    assert reader.read_range(10, 10) == b""


def test_ranges_inside_one_chunk_fetch_it_once(chunked, monkeypatch):
    store, chunks = chunked
    reader = store.objects.open_chunks(chunks, len(DATA))
    fetched: list[ObjectId] = []
    get = store.objects.get

    def counting_get(oid: ObjectId, *, tree: bool = False) -> bytes:
        fetched.append(oid)
        return get(oid, tree=tree)

    monkeypatch.setattr(store.objects, "get", counting_get)

    parts = [reader.read_range(start, start + 100) for start in range(1000, 2000, 100)]

    assert b"".join(parts) == DATA[1000:2000]
    assert fetched == [chunks[1]]


def test_a_dv_file_reads_ranges_through_the_same_reader(chunked, tmp_path):
    store, _ = chunked
    fs = fsspec.filesystem("dv", storage=store.backend.url, skip_instance_cache=True)

    with fs.open("r@master/x", "rb", block_size=700) as f:
        f.seek(1990)
        assert f.read(30) == DATA[1990:2020]
        assert f.read() == DATA[2020:]


def test_a_one_chunk_file_cut_short_reads_as_corrupt_through_dv(tmp_path):
    store = Store.open(str(tmp_path / "store"))
    store.create_repo("r")
    store.put_file("r@master:/f", b"0123456789")
    (oid,) = store.lookup_entry("r@master:/f")[0].chunks
    Path(store.backend.path(object_key(oid))).write_bytes(b"01234")
    fs = fsspec.filesystem("dv", storage=store.backend.url, skip_instance_cache=True)

    with pytest.raises(CorruptObject, match="cut short"), fs.open("r@master/f", "rb") as f:
        f.read()
