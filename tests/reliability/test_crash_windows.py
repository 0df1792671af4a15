"""Each state a crash between two steps of a write can leave, rebuilt exactly, and recovered from.

The random-kill test (``test_crash.py``) hits these windows by chance; here each one is made
on purpose, by putting back the files a finished operation had removed, so its recovery is
tested every run.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from dagster_versioned.store import Store
from dagster_versioned.store.commits import new_commit_id, now
from dagster_versioned.store.maintenance import fsck, gc


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.open(str(tmp_path / "store"))
    s.create_repo("data")
    s.put_file("data@master:/base.txt", b"base")
    return s


def history(store: Store, ref: str) -> list[str]:
    ids = [c.id for c in store.list_commit(ref) if c.is_finished][:50]
    assert len(ids) < 50, "history does not end: a commit is its own ancestor"
    assert len(ids) == len(set(ids)), f"a commit appears twice in {ref}: {ids}"
    return ids


def finish_leaving(store: Store, *, marker: bool, record: bool) -> str:
    """Finish an open commit, then put back what a crash before cleanup would have left."""
    commit = store.start_commit("data@master")
    store.put_file("data@master:/open.txt", b"open")
    marker_key = "repos/data/open-branches/master"
    record_key = f"repos/data/open-commits/{commit.id}.json"
    saved = {marker_key: store.backend.read(marker_key), record_key: store.backend.read(record_key)}
    store.finish_commit("data@master")
    if marker:
        store.backend.write(marker_key, saved[marker_key])
    if record:
        store.backend.write(record_key, saved[record_key])
    return commit.id


def test_an_orphan_commit_record_from_a_writer_killed_before_its_ref_entry_passes_fsck(store):
    head = store.inspect_commit("data@master")
    orphan = replace(head, id=new_commit_id(), parent=head.id, finished=now())
    store.backend.write(f"repos/data/commits/{orphan.id}.json", orphan.to_bytes())
    assert fsck(store).ok, fsck(store).problems
    assert store.inspect_commit("data@master").id == head.id


@pytest.mark.parametrize("marker", [True, False], ids=["marker-left", "marker-removed"])
def test_finishing_again_a_commit_whose_finish_was_killed_before_cleanup_does_not_land_it_twice(
    store, marker
):
    cid = finish_leaving(store, marker=marker, record=True)
    report = fsck(store)
    assert any(cid in line for line in report.leftovers), report.leftovers
    # A marker naming a landed commit would send new writes into it: that one is a problem.
    assert report.ok != marker, report.problems
    finished = store.finish_commit(f"data@{cid}")
    assert finished.id == cid
    assert finished.parent != cid
    assert history(store, "data@master").count(cid) == 1
    assert store.get_file("data@master:/open.txt") == b"open"
    assert not [c for c in store.list_commit("data") if not c.is_finished]
    assert fsck(store).ok


def test_a_commit_whose_finish_was_killed_before_cleanup_is_listed_once(store):
    cid = finish_leaving(store, marker=True, record=True)
    ids = [c.id for c in store.list_commit("data@master")]
    assert ids.count(cid) == 1, ids


def test_deleting_a_commit_whose_finish_was_killed_before_cleanup_keeps_the_landed_commit(store):
    cid = finish_leaving(store, marker=True, record=True)
    store.delete_commit(f"data@{cid}")
    assert store.inspect_commit("data@master").id == cid
    assert store.get_file("data@master:/open.txt") == b"open"
    store.start_commit("data@master")  # the branch is usable again


def test_an_open_commit_from_a_start_commit_killed_before_its_branch_marker_can_be_finished(store):
    """start_commit writes the open-commit record, then creates the branch's open marker."""
    commit = store.start_commit("data@master")
    store.backend.delete("repos/data/open-branches/master")
    assert fsck(store).ok, fsck(store).problems
    assert [c.id for c in store.list_commit("data@master") if not c.is_finished] == [commit.id]
    store.put_file("data@master:/after.txt", b"after")  # no marker: a commit of its own
    assert store.get_file("data@master:/after.txt") == b"after"
    finished = store.finish_commit(f"data@{commit.id}")
    assert store.inspect_commit("data@master").id == finished.id
    assert history(store, "data@master")[:2] == [finished.id, finished.parent]


def test_an_open_commit_from_a_start_commit_killed_before_its_branch_marker_can_be_deleted(store):
    commit = store.start_commit("data@master")
    store.backend.delete("repos/data/open-branches/master")
    other = store.start_commit("data@master")  # the branch is free to open another
    store.delete_commit(f"data@{commit.id}")
    assert store.backend.read("repos/data/open-branches/master").decode() == other.id
    assert [c.id for c in store.list_commit("data") if not c.is_finished] == [other.id]


def test_a_finish_killed_after_unmarking_the_branch_can_be_finished_by_branch_or_id(store):
    """finish_commit removes the branch's open marker first, then lands the commit."""
    commit = store.start_commit("data@master")
    store.put_file("data@master:/open.txt", b"open")
    store.backend.delete("repos/data/open-branches/master")
    finished = store.finish_commit("data@master")
    assert finished.id == commit.id
    assert store.get_file("data@master:/open.txt") == b"open"
    assert not [c for c in store.list_commit("data") if not c.is_finished]


def test_gc_reclaims_the_temporary_file_of_a_write_killed_midway(store):
    oid = store.inspect_file("data@master:/base.txt").hash
    leftover = Path(store.backend.path(f"objects/{oid[:2]}/{oid}.tmp-0123456789ab"))
    leftover.write_bytes(b"half a")
    os.utime(leftover, (1, 1))  # older than any grace period
    gc(store, grace=3600)
    assert not leftover.exists()
