"""Branches: AUTO head commits, moving heads by reference, listing, deleting, the ref log."""

from __future__ import annotations

import time

import pytest

from dagster_versioned.errors import BranchNotFound, InvalidArgument, RepoNotFound
from dagster_versioned.store import Origin, Store

from .helpers import object_keys


@pytest.fixture
def repo(store: Store) -> str:
    store.create_repo("images")
    return "images"


def test_new_branch_gets_an_empty_auto_head_commit(store: Store, repo: str):
    info = store.create_branch("images@master")

    head = store.inspect_commit("images@master")
    assert info.head == head.id
    assert head.origin is Origin.AUTO
    assert head.size_bytes == 0
    assert head.parent is None
    assert head.is_finished
    assert store.list_file("images@master") == []


def test_creating_an_existing_branch_without_head_keeps_it(store: Store, repo: str):
    store.put_file("images@master:/a.txt", b"a")
    before = store.inspect_branch("images@master")

    after = store.create_branch("images@master")

    assert after.head == before.head
    assert after.seq == before.seq


def _three_commits(store: Store) -> list[str]:
    ids = []
    for i in range(3):
        commit = store.put_file(f"images@staging:/f{i}", f"v{i}")
        assert commit is not None
        ids.append(commit.id)
    return ids


@pytest.mark.parametrize(
    ("head", "expected_index"),
    [("images@staging", 2), ("images@staging^2", 0), ("images@staging^", 1), ("id", 1)],
)
def test_create_branch_with_head_points_it_at_that_commit(
    store: Store, repo: str, head: str, expected_index: int
):
    ids = _three_commits(store)
    head_ref = f"images@{ids[1]}" if head == "id" else head

    info = store.create_branch("images@master", head=head_ref)

    assert info.head == ids[expected_index]
    assert store.inspect_commit("images@master").id == ids[expected_index]
    assert [f.path for f in store.list_file("images@master")] == [
        f"/f{i}" for i in range(expected_index + 1)
    ]


def test_moving_a_head_writes_no_file_data(store: Store, repo: str):
    ids = _three_commits(store)
    store.create_branch("images@master")
    before = object_keys(store)

    store.create_branch("images@master", head="images@staging^2")
    store.create_branch("images@master", head=f"images@{ids[2]}")
    store.create_branch("images@copy", head="images@staging^1")

    assert object_keys(store) == before
    assert store.inspect_branch("images@master").head == ids[2]
    assert store.inspect_branch("images@copy").head == ids[1]


def test_list_branch_lists_newest_first(store: Store, repo: str):
    for name in ("master", "staging", "dev"):
        store.create_branch(f"images@{name}")
        time.sleep(0.002)

    assert [b.name for b in store.list_branch("images")] == ["dev", "staging", "master"]


def test_list_branch_of_missing_repo_raises_repo_not_found(store: Store):
    with pytest.raises(RepoNotFound):
        store.list_branch("nope")


def test_inspect_branch_reports_head_times_and_log_position(store: Store, repo: str):
    created = store.create_branch("images@master")
    commit = store.put_file("images@master:/a.txt", b"a")
    assert commit is not None

    info = store.inspect_branch("images@master")

    assert info.repo == "images"
    assert info.name == "master"
    assert info.head == commit.id
    assert info.trigger is None
    assert info.created == created.created
    assert info.updated > info.created
    assert info.seq == created.seq + 1


def test_inspect_missing_branch_raises_branch_not_found(store: Store, repo: str):
    with pytest.raises(BranchNotFound, match="'nope'"):
        store.inspect_branch("images@nope")


def test_delete_branch_makes_it_not_found_but_keeps_its_commits(store: Store, repo: str):
    commit = store.put_file("images@dev:/a.txt", b"a")
    assert commit is not None

    store.delete_branch("images@dev")

    with pytest.raises(BranchNotFound):
        store.inspect_branch("images@dev")
    assert [b.name for b in store.list_branch("images")] == []
    assert store.get_file(f"images@{commit.id}:/a.txt") == b"a"


def test_delete_missing_branch_raises_branch_not_found(store: Store, repo: str):
    with pytest.raises(BranchNotFound):
        store.delete_branch("images@nope")


def test_put_file_to_a_missing_branch_creates_it(store: Store, repo: str):
    commit = store.put_file("images@fresh:/a.txt", b"hello")

    info = store.inspect_branch("images@fresh")
    assert commit is not None
    assert info.head == commit.id
    assert commit.origin is Origin.USER
    assert store.get_file("images@fresh:/a.txt") == b"hello"


@pytest.mark.parametrize("name", ["0123456789abcdef0123456789abcdef", "f" * 32])
def test_branch_names_of_32_hex_digits_are_refused(store: Store, repo: str, name: str):
    with pytest.raises(InvalidArgument, match=name):
        store.create_branch(f"images@{name}")
    with pytest.raises(InvalidArgument, match=name):
        store.put_file(f"images@{name}:/a.txt", b"a")
    with pytest.raises(InvalidArgument, match=name):
        store.branch_log("images", name)
    assert store.list_branch("images") == []


@pytest.mark.parametrize("name", ["a b", "a/b", "é", "x" * 64])
def test_invalid_branch_name_is_refused(store: Store, repo: str, name: str):
    with pytest.raises(InvalidArgument):
        store.create_branch(f"images@{name}")


def test_branch_log_records_every_change_in_order(store: Store, repo: str):
    store.create_branch("images@master")
    first = store.put_file("images@master:/a.txt", b"a")
    assert first is not None
    store.put_file("images@master:/b.txt", b"b")
    store.create_branch("images@master", head=f"images@{first.id}")
    store.delete_branch("images@master")

    log = store.branch_log("images", "master")

    assert [e.seq for e in log] == [0, 1, 2, 3, 4]
    assert [e.reason for e in log] == ["create", "commit", "commit", "move", "delete"]
    assert log[3].head == first.id
    assert [e.previous for e in log[1:]] == [e.head for e in log[:-1]]
    assert [e.seq for e in store.branch_log("images", "master", after=2)] == [3, 4]


def test_recreating_a_deleted_branch_continues_its_ref_log(store: Store, repo: str):
    store.put_file("images@dev:/a.txt", b"a")
    store.delete_branch("images@dev")

    recreated = store.create_branch("images@dev")

    seqs = [e.seq for e in store.branch_log("images", "dev")]
    assert seqs == sorted(set(seqs))
    assert recreated.seq == seqs[-1] == 2
    assert store.list_file("images@dev") == []
    assert store.inspect_commit("images@dev").origin is Origin.AUTO
