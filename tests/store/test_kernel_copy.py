"""Large local files are copied into the store by the kernel and hashed there (issue 10, B).

The copy-then-hash path must store each chunk under the hash of exactly the bytes stored,
leave no temporary file behind, deduplicate like every other put, and refuse a range that the
source file no longer has.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from dagster_versioned.store import Store, objects
from dagster_versioned.store.backend import LocalBackend
from dagster_versioned.store.objects import hash_bytes, object_key

MiB = 1024 * 1024


def _store_files(root: Path) -> list[Path]:
    return [p for p in (root / "objects").rglob("*") if p.is_file()]


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> int:
    """1 MiB chunks, so a 5 MiB file (over the kernel-copy threshold) has six of them."""
    monkeypatch.setattr(objects, "CHUNK_SIZE", MiB)
    return MiB


def test_each_chunk_is_stored_under_the_hash_of_its_bytes(tmp_path: Path, small_chunks: int):
    data = os.urandom(5 * MiB + 123)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    store = Store.open(str(tmp_path / "store"))
    assert store.backend.local_path == str(tmp_path / "store")
    assert store.backend.supports_kernel_copy
    store.create_repo("r")

    store.put_file("r@master:/big.bin", src)

    entry = store.lookup_entry("r@master:/big.bin")[0]
    pieces = [data[i : i + small_chunks] for i in range(0, len(data), small_chunks)]
    assert list(entry.chunks) == [hash_bytes(p) for p in pieces]
    for oid, piece in zip(entry.chunks, pieces, strict=True):
        assert (tmp_path / "store" / object_key(oid)).read_bytes() == piece
    assert store.get_file_to("r@master:/big.bin", tmp_path / "out.bin") == len(data)
    assert (tmp_path / "out.bin").read_bytes() == data
    assert not [p for p in _store_files(tmp_path / "store") if ".tmp-" in p.name]


def test_putting_a_large_file_again_reuses_its_objects(tmp_path: Path, small_chunks: int):
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(4 * MiB + 1))
    store = Store.open(str(tmp_path / "store"))
    store.create_repo("r")
    store.put_file("r@master:/one.bin", src)
    before = sorted(_store_files(tmp_path / "store"))

    store.put_file("r@master:/two.bin", src)

    chunk_files = {str(p) for p in _store_files(tmp_path / "store")} - {str(p) for p in before}
    assert all("/objects/" in f and ".tmp-" not in f for f in chunk_files)
    one = store.lookup_entry("r@master:/one.bin")[0]
    two = store.lookup_entry("r@master:/two.bin")[0]
    assert one.chunks == two.chunks
    assert len(one.chunks) == 5
    # Only tree nodes are new: no chunk object was stored twice, no temporary remains.
    assert not any(Path(f).name in one.chunks for f in chunk_files)


def test_a_range_past_the_end_of_the_source_stores_nothing(tmp_path: Path):
    src = tmp_path / "short.bin"
    src.write_bytes(b"x" * 1000)
    backend = LocalBackend(str(tmp_path / "store"), str(tmp_path / "store"))
    with src.open("rb") as f:
        key = backend.copy_range_named(
            f.fileno(), 0, 2000, lambda data: object_key(hash_bytes(data))
        )
    assert key is None
    assert _store_files(tmp_path / "store") == []


def test_the_copy_path_recreates_an_objects_folder_removed_meanwhile(tmp_path: Path):
    src = tmp_path / "a.bin"
    data = os.urandom(3000)
    src.write_bytes(data)
    backend = LocalBackend(str(tmp_path / "store"), str(tmp_path / "store"))
    with src.open("rb") as f:

        def name(b: bytes | bytearray | memoryview) -> str:
            return object_key(hash_bytes(b))

        first = backend.copy_range_named(f.fileno(), 0, 1000, name)
        assert first is not None
        shutil.rmtree(tmp_path / "store" / "objects")  # behind the backend's folder cache
        second = backend.copy_range_named(f.fileno(), 1000, 1000, name)
    assert second == object_key(hash_bytes(data[1000:2000]))
    assert (tmp_path / "store" / second).read_bytes() == data[1000:2000]
