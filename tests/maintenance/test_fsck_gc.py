"""fsck finds what is broken and says so; gc deletes only what nothing references."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from dagster_versioned.cli.main import load_commands
from dagster_versioned.store import Store
from dagster_versioned.store.maintenance import fsck, gc
from dagster_versioned.store.objects import hash_bytes


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.open(str(tmp_path / "store"))
    s.create_repo("data")
    with s.commit("data@master") as c:
        c.put_file("/a.txt", b"alpha")
        c.put_file("/dir/b.txt", b"beta")
    return s


def object_path(store: Store, data: bytes) -> Path:
    oid = hash_bytes(data)
    return Path(store.backend.path(f"objects/{oid[:2]}/{oid}"))


def test_a_healthy_store_passes_fsck(store):
    report = fsck(store)
    assert report.ok, report.problems
    assert report.commits == 1
    assert report.objects > 2


def test_fsck_names_an_object_whose_bytes_do_not_match_its_hash(store):
    object_path(store, b"alpha").write_bytes(b"tampered")
    report = fsck(store)
    assert any(hash_bytes(b"alpha") in p and "corrupt" in p for p in report.problems)


def test_fsck_names_a_referenced_object_that_is_missing(store):
    object_path(store, b"beta").unlink()
    report = fsck(store)
    assert any(hash_bytes(b"beta") in p and "missing" in p for p in report.problems)


def test_fsck_fix_moves_a_branch_off_a_missing_head(store):
    good = store.inspect_commit("data@master").id
    latest = store.refs.latest("data", "master")
    store.refs.append(
        latest, repo="data", branch="master", head="f" * 32, reason="commit", trigger=None
    )
    report = fsck(store)
    assert any("head ffff" in p for p in report.problems)
    fixed = fsck(store, fix=True)
    assert fixed.fixed == [f"moved data@master back to {good}"]
    assert store.inspect_branch("data@master").head == good
    assert fsck(store).ok


def test_fsck_fix_removes_an_open_commit_marker_whose_commit_is_gone(store):
    commit = store.start_commit("data@master")
    store.backend.delete(f"repos/data/open-commits/{commit.id}.json")
    assert not fsck(store).ok
    assert fsck(store, fix=True).fixed
    assert fsck(store).ok
    store.start_commit("data@master")


def test_an_abandoned_open_commit_can_be_finished_or_deleted(store):
    store.start_commit("data@master")
    store.put_file("data@master:/c.txt", b"gamma")
    fresh = Store.open(store.backend.url)
    fresh.delete_commit("data@master")
    fresh.start_commit("data@master")
    fresh.put_file("data@master:/d.txt", b"delta")
    fresh.finish_commit("data@master")
    assert sorted(f.path for f in fresh.list_file("data@master")) == ["/a.txt", "/d.txt", "/dir"]


def test_gc_deletes_unreferenced_objects_and_keeps_referenced_ones(store):
    store.create_repo("scratch")
    store.put_file("scratch@master:/big", os.urandom(5000))
    store.delete_repo("scratch")
    dry = gc(store, grace=0, dry_run=True)
    assert dry.deleted
    assert gc(store, grace=3600).deleted == []
    report = gc(store, grace=0)
    assert report.deleted == dry.deleted
    assert store.get_file("data@master:/a.txt") == b"alpha"
    assert store.get_file("data@master:/dir/b.txt") == b"beta"
    assert fsck(store).ok


def test_gc_keeps_what_an_open_commit_wrote(store):
    store.start_commit("data@master")
    store.put_file("data@master:/pending.txt", b"pending")
    gc(store, grace=0)
    store.finish_commit("data@master")
    assert store.get_file("data@master:/pending.txt") == b"pending"


def test_gc_is_safe_while_writers_commit(store):
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        i = 0
        try:
            while not stop.is_set():
                with store.commit("data@master") as c:
                    c.put_file(f"/w/{i % 5}.txt", f"version {i}".encode())
                i += 1
        except BaseException as e:
            errors.append(e)

    thread = threading.Thread(target=writer)
    thread.start()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        gc(store, grace=1.0)
    stop.set()
    thread.join()
    assert not errors
    assert fsck(store).ok


def dvctl(url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(load_commands(), ["--storage", url, *args])
    return result.exit_code, result.output


def test_dvctl_fsck_and_gc_report_in_plain_words(store):
    url = store.backend.url
    code, out = dvctl(url, "fsck")
    assert code == 0
    assert "0 problems" in out
    object_path(store, b"alpha").write_bytes(b"tampered")
    code, out = dvctl(url, "fsck")
    assert code == 1
    assert "problem: object" in out
    code, out = dvctl(url, "gc", "--grace", "0s", "--dry-run")
    assert code == 0
    assert out.startswith("would delete")
    code, out = dvctl(url, "gc", "--grace", "soon")
    assert code == 1
    assert "invalid --grace 'soon'" in out
