"""The backend conformance suite: ``Backend``'s four guarantees and its flags' promises, as tests.

The store is correct on a backend exactly when the backend keeps the guarantees stated in
``dagster_versioned.store.backend.Backend``; this suite checks each of them, and what each
capability flag promises, so a new backend (or a new version of s3fs, moto, or a filesystem)
is checked once here rather than found wanting by a lost commit. A small store-level part runs
a put, a commit and racing commits (the branch compare-and-swap) on the backend as well.

Use it by subclassing in a test module; the subclass turns collection on and gives each test a
fresh, empty ``backend``::

    import pytest
    from dagster_versioned.store.opening import open_backend
    from dagster_versioned.testing.backend_suite import BackendSuite

    class TestMyBackend(BackendSuite):
        __test__ = True

        @pytest.fixture
        def backend(self, tmp_path):
            return open_backend(str(tmp_path / "store"))
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dagster_versioned.store.backend import Backend, Buffer
from dagster_versioned.store.store import Store

RACERS = 8
"""Threads racing in the exclusive-create and commit tests."""
RACE_ROUNDS = 3


def _race(n: int, task: Callable[[int], object]) -> list[object]:
    """Run ``task(i)`` for ``i < n`` on threads released together; their results in order."""
    barrier = threading.Barrier(n)
    results: list[object] = [None] * n
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = task(i)
        except BaseException as e:  # re-raised below, in the test's thread
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def _name(data: Buffer) -> str:
    return f"named/{hashlib.sha256(data).hexdigest()}"


class BackendSuite:
    """Tests every backend must pass; subclasses set ``__test__ = True`` and give ``backend``."""

    __test__ = False

    @pytest.fixture
    def backend(self) -> Backend:
        raise NotImplementedError("a BackendSuite subclass provides the `backend` fixture")

    # -- 1. read-your-writes ---------------------------------------------------------------

    def test_a_written_key_reads_back_at_once(self, backend: Backend) -> None:
        backend.write("a/b.json", b"first")

        assert backend.read("a/b.json") == b"first"
        assert backend.read_or_none("a/b.json") == b"first"
        assert backend.exists("a/b.json")
        assert backend.size("a/b.json") == 5

    def test_an_overwrite_is_read_at_once(self, backend: Backend) -> None:
        backend.write("k", b"old")

        backend.write("k", b"new bytes")

        assert backend.read("k") == b"new bytes"
        assert backend.size("k") == 9

    def test_a_deleted_key_is_gone_at_once(self, backend: Backend) -> None:
        backend.write("d/k", b"x")

        backend.delete("d/k")

        assert not backend.exists("d/k")
        assert backend.read_or_none("d/k") is None
        assert backend.mtime("d/k") is None
        assert "k" not in backend.listdir("d")
        backend.delete("d/k")  # deleting a missing key is no error

    def test_a_missing_key_raises_file_not_found(self, backend: Backend) -> None:
        for read in (
            lambda: backend.read("no/such"),
            lambda: backend.read_range("no/such", 0, 1),
            lambda: backend.size("no/such"),
            lambda: backend.open_read("no/such"),
        ):
            with pytest.raises(FileNotFoundError):
                read()
        assert backend.read_or_none("no/such") is None
        assert backend.mtime("no/such") is None

    def test_a_written_key_is_young_and_a_missing_one_has_no_age(self, backend: Backend) -> None:
        backend.write("aged", b"x")

        mtime = backend.mtime("aged")

        assert mtime is not None
        assert abs(time.time() - mtime) < 300

    # -- 2. atomic whole-key write ---------------------------------------------------------

    def test_readers_see_the_old_or_the_new_bytes_never_a_mix(self, backend: Backend) -> None:
        old, new = b"o" * 300_000, b"n" * 200_001
        backend.write("atomic", old)
        stop = threading.Event()

        def overwrite() -> None:
            while not stop.is_set():
                backend.write("atomic", new)
                backend.write("atomic", old)

        writer = threading.Thread(target=overwrite)
        writer.start()
        seen: set[bytes] = set()
        try:
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline:
                data = backend.read("atomic")
                assert data in (old, new), f"a read saw {len(data)} bytes: neither whole value"
                seen.add(data)
        finally:
            stop.set()
            writer.join()
        assert old in seen or new in seen

    # -- 3. exclusive create ---------------------------------------------------------------

    def test_of_racing_creators_exactly_one_wins(self, backend: Backend) -> None:
        if not backend.supports_exclusive_create:
            pytest.skip("the backend does not promise exclusive create")
        for round_ in range(RACE_ROUNDS):
            key = f"heads/{round_:06d}.json"

            def create(i: int, key: str = key) -> bool:
                return backend.create(key, f"writer {i}".encode())

            won = _race(RACERS, create)

            winners = [i for i, w in enumerate(won) if w is True]
            assert len(winners) == 1, f"round {round_}: writers {winners} all won"
            assert backend.read(key) == f"writer {winners[0]}".encode()

    def test_of_racing_content_creators_exactly_one_creates(self, backend: Backend) -> None:
        if not backend.supports_exclusive_create:
            pytest.skip("the backend does not promise exclusive create")

        won = _race(RACERS, lambda i: backend.create_if_missing("cas/obj", b"same bytes"))

        assert won.count(True) == 1
        assert backend.read("cas/obj") == b"same bytes"

    def test_a_retried_create_that_finds_its_own_bytes_counts_as_won(
        self, backend: Backend
    ) -> None:
        assert backend.create("log/1.json", b"mine")

        assert backend.create("log/1.json", b"mine")  # the first try landed, its answer lost
        assert not backend.create("log/1.json", b"theirs")
        assert backend.read("log/1.json") == b"mine"

    def test_create_if_missing_reports_a_taken_key_and_keeps_its_bytes(
        self, backend: Backend
    ) -> None:
        assert backend.create_if_missing("obj", b"first")

        assert not backend.create_if_missing("obj", b"second")
        assert backend.read("obj") == b"first"

    # -- 4. listing ------------------------------------------------------------------------

    def test_listing_gives_the_sorted_names_of_files_and_folders(self, backend: Backend) -> None:
        for key in ("l/b", "l/a.json", "l/c/deep/x", "l/B", "l/a"):
            backend.write(key, b"-")

        assert backend.listdir("l") == ["B", "a", "a.json", "b", "c"]
        assert backend.listdir("l/c") == ["deep"]

    def test_listing_a_missing_folder_gives_nothing(self, backend: Backend) -> None:
        assert backend.listdir("nowhere") == []

    def test_listing_follows_writes_and_deletes_at_once(self, backend: Backend) -> None:
        assert backend.listdir("f") == []
        backend.write("f/one", b"1")
        assert backend.listdir("f") == ["one"]
        backend.write("f/two", b"2")
        assert backend.listdir("f") == ["one", "two"]
        backend.delete("f/one")
        assert backend.listdir("f") == ["two"]

    # -- folders, ranges, batches ----------------------------------------------------------

    def test_delete_tree_removes_a_folder_but_not_keys_it_is_a_prefix_of(
        self, backend: Backend
    ) -> None:
        for key in ("t/a/1", "t/a/sub/2", "t/ab", "t/a.json"):
            backend.write(key, b"-")

        backend.delete_tree("t/a")

        assert not backend.exists("t/a/1")
        assert not backend.exists("t/a/sub/2")
        assert backend.read("t/ab") == b"-"
        assert backend.read("t/a.json") == b"-"
        assert backend.listdir("t/a") == []
        backend.delete_tree("t/a")  # a missing folder is no error

    def test_read_range_reads_a_slice_or_a_suffix(self, backend: Backend) -> None:
        backend.write("r", b"0123456789")

        assert backend.read_range("r", 2, 5) == b"234"
        assert backend.read_range("r", 7) == b"789"
        assert backend.read_range("r", -3) == b"789"
        assert backend.read_range("r", -100) == b"0123456789"
        assert backend.read_range("r", 8, 100) == b"89"

    def test_open_read_streams_the_stored_bytes(self, backend: Backend) -> None:
        backend.write("s", b"stream me")

        with backend.open_read("s") as f:
            assert f.read() == b"stream me"

    def test_write_missing_writes_the_missing_keys_and_skips_stored_ones(
        self, backend: Backend
    ) -> None:
        backend.write("o/00", b"already here")
        batch = [(f"o/{i:02d}", f"object {i}".encode()) for i in range(20)]

        backend.write_missing(batch)

        assert backend.read("o/00") == b"already here"  # content-addressed: a stored key stays
        assert [backend.read(k) for k, _ in batch[1:]] == [d for _, d in batch[1:]]

    def test_copy_range_named_stores_a_range_of_a_file_under_its_name(
        self, backend: Backend, tmp_path: Path
    ) -> None:
        data = os.urandom(5000)
        src = tmp_path / "src.bin"
        src.write_bytes(data)
        with src.open("rb") as f:
            key = backend.copy_range_named(f.fileno(), 100, 1000, _name)
            past_end = backend.copy_range_named(f.fileno(), 4500, 1000, _name)

        assert key == _name(data[100:1100])
        assert backend.read(key) == data[100:1100]
        assert past_end is None  # the file ended first: nothing stored
        assert backend.listdir("named") == [key.rsplit("/", 1)[1]]

    def test_removing_stale_temporaries_keeps_every_stored_key(self, backend: Backend) -> None:
        backend.write("objects/ab/abc", b"kept")

        removed = backend.remove_stale_temporaries(0.0)

        assert removed >= 0
        assert backend.read("objects/ab/abc") == b"kept"

    # -- flags -----------------------------------------------------------------------------

    def test_local_path_holds_every_key_as_a_plain_file(self, backend: Backend) -> None:
        if backend.local_path is None:
            pytest.skip("the backend's keys are not local files")
        backend.write("p/q", b"plain")

        assert Path(backend.local_path, "p", "q").read_bytes() == b"plain"

    def test_kernel_copy_leaves_no_temporary_behind(self, backend: Backend, tmp_path: Path) -> None:
        if not backend.supports_kernel_copy or backend.local_path is None:
            pytest.skip("the backend does not copy in the kernel")
        src = tmp_path / "big.bin"
        src.write_bytes(os.urandom(100_000))
        with src.open("rb") as f:
            key = backend.copy_range_named(f.fileno(), 0, 100_000, _name)
            with backend.open_read(str(key)) as stored:
                assert stored.fileno() >= 0  # a real file: copy_file_range can read it

        leftovers = [n for _, _, files in os.walk(backend.local_path) for n in files]
        assert not [n for n in leftovers if ".tmp-" in n]

    def test_an_object_store_is_not_local(self, backend: Backend) -> None:
        if not backend.is_object_store:
            pytest.skip("not an object store")

        assert backend.local_path is None
        assert not backend.supports_kernel_copy

    # -- the store on this backend ---------------------------------------------------------

    def test_a_store_on_the_backend_puts_commits_and_reads_back_files(
        self, backend: Backend
    ) -> None:
        store = Store(backend)
        store.create_repo("r")
        store.put_file("r@master:/a.txt", b"alpha")
        with store.commit("r@master") as c:
            c.put_file("/dir/b.txt", b"beta")
            c.delete_file("/a.txt")

        fresh = Store(backend)  # nothing cached: everything is read from the backend
        assert fresh.get_file("r@master:/dir/b.txt") == b"beta"
        assert [f.path for f in fresh.list_file("r@master")] == ["/dir"]

    def test_racing_commits_to_one_branch_all_land(self, backend: Backend) -> None:
        if not backend.supports_exclusive_create:
            pytest.skip("the branch compare-and-swap needs exclusive create")
        Store(backend).create_repo("r")
        writers = 4

        _race(writers, lambda i: Store(backend).put_file(f"r@master:/w{i}", f"{i}".encode()))

        fresh = Store(backend)
        assert [fresh.get_file(f"r@master:/w{i}") for i in range(writers)] == [
            f"{i}".encode() for i in range(writers)
        ]
