"""``dv://`` passes fsspec's own conformance suite (``fsspec.tests.abstract``), on every backend.

The suite is what pandas, pyarrow and ``fsspec.generic`` assume of a filesystem: ``cp``/``mv``
of files, directories and globs, ``get``/``put`` to and from local disk, ``open(mode="xb")``
and ``pipe``. Each test runs against a ``dv://repo@master/root`` on a store backed by memory,
local disk and the S3 server fixture in turn.

One difference is declared, not skipped: a commit holds files, not directories, so there are no
empty directories (``supports_empty_directories`` is False, as for s3fs); ``mkdir`` inside a
branch only ensures the repo, and the suite then touches a ``dummy`` file where it needs one.
With that flag every test of the suite applies and passes, so none is skipped or xfailed; a
test that one day cannot apply is to be xfailed here by name, with the reason.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from typing import Any

import pytest
from fsspec.tests.abstract import AbstractFixtures
from fsspec.tests.abstract.copy import AbstractCopyTests
from fsspec.tests.abstract.get import AbstractGetTests
from fsspec.tests.abstract.open import AbstractOpenTests
from fsspec.tests.abstract.pipe import AbstractPipeTests
from fsspec.tests.abstract.put import AbstractPutTests

from dagster_versioned.errors import InvalidRef
from dagster_versioned.store.fs import VersionedFileSystem
from dagster_versioned.store.gc import object_keys, reachable_objects
from dagster_versioned.store.pack_format import is_tree_pack
from dagster_versioned.store.packs import list_packs, load_index
from dagster_versioned.store.store import Store


class DvFixtures(AbstractFixtures):  # type: ignore[misc]
    @pytest.fixture
    def fs(self, store_location: tuple[str, dict[str, Any]]) -> VersionedFileSystem:
        url, options = store_location
        fs = VersionedFileSystem(storage=url, **options)
        fs.store.create_repo("repo")
        return fs

    @pytest.fixture
    def fs_path(self) -> str:
        return "repo@master/root"

    @pytest.fixture
    def fs_join(self) -> Callable[..., str]:
        return posixpath.join

    @pytest.fixture
    def supports_empty_directories(self) -> bool:
        return False


class TestDvCopy(AbstractCopyTests, DvFixtures):  # type: ignore[misc]
    pass


class TestDvGet(AbstractGetTests, DvFixtures):  # type: ignore[misc]
    pass


class TestDvPut(AbstractPutTests, DvFixtures):  # type: ignore[misc]
    pass


class TestDvOpen(AbstractOpenTests, DvFixtures):  # type: ignore[misc]
    pass


class TestDvPipe(AbstractPipeTests, DvFixtures):  # type: ignore[misc]
    pass


# ---------------------------------------------------------------- what dv:// adds to the suite


@pytest.fixture
def dvfs(local_dv: Any) -> VersionedFileSystem:
    """``dv://`` on a local store with repo ``data``: a.csv and sub/b.txt in one commit."""
    fs = VersionedFileSystem(storage=local_dv.url)
    fs.store.create_repo("data")
    fs.pipe({"data@master/a.csv": b"x,y\n1,2\n", "data@master/sub/b.txt": b"hello"})
    return fs


def _commits(fs: VersionedFileSystem, ref: str = "data@master") -> int:
    return len(fs.store.list_commit(ref))


def _data_objects(store: Store) -> tuple[set[str], set[str]]:
    """The stored objects that hold file data, and the packs that hold them.

    Everything stored (loose objects and the objects inside packs) minus the tree nodes that
    some commit reaches: a copy by reference must write new tree nodes (the copy is a new
    path), but no object of file data and no data pack.
    """
    packs = list_packs(store.backend)
    stored = {key.rsplit("/", 1)[1] for key in object_keys(store)}
    for name in packs:
        stored.update(e.oid for e in load_index(store.backend, name))
    chunks: set[str] = set()
    for repo in store.list_repo():
        for branch in store.list_branch(repo.name):
            for info in store.walk_file(f"{repo.name}@{branch.name}:/"):
                if info.type == "file":
                    entry, _ = store.lookup_entry(f"{repo.name}@{branch.name}:{info.path}")
                    chunks.update(entry.chunks)
    tree_nodes = reachable_objects(store) - chunks
    return stored - tree_nodes, {n for n in packs if not is_tree_pack(n)}


def test_copies_within_and_across_repos_write_no_object_and_no_pack_of_file_data(
    store_location: tuple[str, dict[str, Any]], tmp_path, monkeypatch: pytest.MonkeyPatch
):
    url, options = store_location
    fs = VersionedFileSystem(storage=url, **options)
    fs.store.create_repo("data")
    fs.store.create_repo("other")
    local = tmp_path / "upload"  # not tmp_path itself: the local store lives there
    (local / "deep").mkdir(parents=True)
    for i in range(20):
        (local / f"small{i:02}.txt").write_bytes(b"%d" % i * (i + 1))
    large = bytes(range(256)) * 1024
    (local / "deep" / "large.bin").write_bytes(large)
    fs.put(f"{local}/", "data@master/src", recursive=True)  # small files go into a pack
    objects, packs = _data_objects(fs.store)
    assert len(objects) == 21
    assert packs
    fs.pipe("data@master/loose.txt", b"one loose object")
    objects, packs = _data_objects(fs.store)

    def no_writes(*args: Any, **kwargs: Any) -> Any:
        # Content addressing would hide a copy that rewrote the same bytes from the counts
        # above, so every way of storing file data is refused too (tree nodes still go).
        raise AssertionError("a copy by reference stored file data")

    for name in ("put", "put_many", "put_stream", "put_local_file", "put_in_background"):
        monkeypatch.setattr(fs.store.objects, name, no_writes)

    fs.cp("data@master/src", "data@master/copy", recursive=True)
    fs.cp("data@master/src", "other@master/imported", recursive=True)
    fs.cp("data@master/src/deep/large.bin", "other@master/one.bin")
    fs.cp("data@master/loose.txt", "other@master/loose.txt")
    fs.mv("data@master/copy", "data@master/moved", recursive=True)

    assert _data_objects(fs.store) == (objects, packs)
    assert fs.cat("other@master/imported/deep/large.bin") == large
    assert fs.cat("data@master/moved/small07.txt") == b"7" * 8
    assert not fs.exists("data@master/copy")
    assert (
        fs.info("other@master/imported/small03.txt")["hash"]
        == (fs.info("data@master/src/small03.txt")["hash"])
    )


def test_cp_reads_from_any_commit_but_writes_only_to_a_branch(dvfs: VersionedFileSystem):
    dvfs.pipe("data@master/a.csv", b"x,y\n3,4\n")

    dvfs.cp("data@master^1/a.csv", "data@master/old.csv")

    assert dvfs.cat("data@master/old.csv") == b"x,y\n1,2\n"
    head = dvfs.store.inspect_commit("data@master").id
    with pytest.raises(InvalidRef, match="is read-only: write to a branch"):
        dvfs.cp("data@master/a.csv", f"data@{head}/b.csv")


def test_a_bulk_put_cp_mv_rm_or_pipe_is_one_commit_per_call(dvfs: VersionedFileSystem, tmp_path):
    tree = tmp_path / "tree"
    for i in range(30):
        (tree / f"d{i % 3}").mkdir(parents=True, exist_ok=True)
        (tree / f"d{i % 3}" / f"f{i}.txt").write_bytes(b"%d" % i)
    before = _commits(dvfs)

    dvfs.put(str(tree), "data@master/up", recursive=True)
    assert _commits(dvfs) == before + 1
    assert len(dvfs.find("data@master/up")) == 30
    assert dvfs.cat("data@master/up/d2/f29.txt") == b"29"

    dvfs.cp("data@master/up", "data@master/copy", recursive=True)
    dvfs.mv("data@master/copy", "data@master/moved", recursive=True)
    dvfs.rm(["data@master/a.csv", "data@master/sub/b.txt"])
    dvfs.pipe({"data@master/p1": b"1", "data@master/p2": b"2"})

    assert _commits(dvfs) == before + 5
    assert not dvfs.exists("data@master/copy")
    assert len(dvfs.find("data@master/moved")) == 30
    assert not dvfs.exists("data@master/a.csv")


def test_a_bulk_operation_that_fails_commits_nothing(dvfs: VersionedFileSystem):
    before = _commits(dvfs)

    with pytest.raises(FileNotFoundError):
        dvfs.rm(["data@master/a.csv", "data@master/missing.txt"])

    assert _commits(dvfs) == before
    assert dvfs.exists("data@master/a.csv")


def test_inside_a_transaction_a_bulk_operation_joins_its_commit(dvfs: VersionedFileSystem):
    before = _commits(dvfs)

    with dvfs.transaction:
        dvfs.cp("data@master/a.csv", "data@master/c1.csv")
        dvfs.pipe({"data@master/p1": b"1", "data@master/p2": b"2"})
        dvfs.rm("data@master/sub", recursive=True)

    assert _commits(dvfs) == before + 1
    assert sorted(dvfs.ls("data@master", detail=False)) == [
        "data@master/a.csv", "data@master/c1.csv", "data@master/p1", "data@master/p2",
    ]  # fmt: skip


def test_a_bulk_operation_goes_into_the_branchs_open_commit_as_single_writes_do(
    dvfs: VersionedFileSystem,
):
    before = _commits(dvfs)
    dvfs.store.start_commit("data@master")

    dvfs.pipe({"data@master/p1": b"1", "data@master/p2": b"2"})
    dvfs.cp("data@master/a.csv", "data@master/c.csv")
    assert not dvfs.exists("data@master/p1")  # not before the open commit is finished
    dvfs.store.finish_commit("data@master")

    assert _commits(dvfs) == before + 1
    assert dvfs.cat("data@master/p2") == b"2"
    assert dvfs.cat("data@master/c.csv") == b"x,y\n1,2\n"


def test_a_bulk_put_or_cp_looks_up_refs_and_repos_as_often_for_40_files_as_for_4(
    dvfs: VersionedFileSystem, tmp_path, monkeypatch: pytest.MonkeyPatch
):
    # Regression: each file of a put read the repo and all its branch heads twice, and each file
    # of a cp resolved the source branch again (1,000 S3 requests for a put of 100 files).
    lookups: list[str] = []
    for name in ("inspect_commit", "inspect_repo", "list_branch"):
        real = getattr(dvfs.store, name)
        monkeypatch.setattr(
            dvfs.store,
            name,
            lambda *a, _real=real, _name=name, **k: lookups.append(_name) or _real(*a, **k),
        )

    def cost(n: int) -> tuple[int, int]:
        local = tmp_path / f"up{n}"
        local.mkdir()
        for i in range(n):
            (local / f"f{i}.txt").write_bytes(b"%d" % i)
        lookups.clear()
        dvfs.put(f"{local}/", f"data@master/up{n}", recursive=True)
        put = len(lookups)
        lookups.clear()
        dvfs.cp(f"data@master/up{n}", f"data@master/cp{n}", recursive=True)
        return put, len(lookups)

    assert cost(4) == cost(40)
    assert len(dvfs.find("data@master/cp40")) == 40
