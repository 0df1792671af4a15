"""Repos: naming rules, create, list, inspect, delete, and protection of repos in provenance."""

from __future__ import annotations

import time

import pytest

from dagster_versioned.errors import AlreadyExists, InvalidName, RepoInUse, RepoNotFound
from dagster_versioned.store import CommitRef, Store


@pytest.mark.parametrize("name", ["a", "Images", "raw_data-2", "0", "x" * 63])
def test_repo_names_of_letters_digits_underscore_and_dash_are_accepted(store: Store, name: str):
    info = store.create_repo(name)

    assert info.name == name
    assert store.inspect_repo(name).name == name


@pytest.mark.parametrize(
    ("name", "named_as"),
    [
        ("a b", "'a b'"),
        ("a/b", "'a/b'"),
        ("", "''"),
        ("x" * 64, "'" + "x" * 20),
        ("é", "'é'"),
        ("a.b", "'a.b'"),
    ],
)
def test_invalid_repo_name_raises_invalid_name_naming_the_value(
    store: Store, name: str, named_as: str
):
    with pytest.raises(InvalidName) as raised:
        store.create_repo(name)

    assert named_as in str(raised.value)
    assert "repo" in str(raised.value)
    assert store.list_repo() == []


def test_invalid_name_is_also_a_value_error(store: Store):
    with pytest.raises(ValueError, match="letters, digits"):
        store.create_repo("a b")


def test_create_repo_records_name_description_and_creation_time(store: Store):
    info = store.create_repo("images", description="raw pictures")

    assert info.name == "images"
    assert info.description == "raw pictures"
    assert info.created.tzinfo is not None
    assert info.size_bytes == 0
    assert info.branches == ()


def test_creating_a_repo_twice_raises_already_exists_and_keeps_the_first(store: Store):
    store.create_repo("images", description="first")

    with pytest.raises(AlreadyExists, match="'images'"):
        store.create_repo("images", description="second")
    assert store.inspect_repo("images").description == "first"


def test_list_repo_lists_newest_first(store: Store):
    for name in ("first", "second", "third"):
        store.create_repo(name)
        time.sleep(0.002)  # creation times are microseconds apart; keep them distinct

    assert [r.name for r in store.list_repo()] == ["third", "second", "first"]


def test_inspect_repo_size_is_the_master_head_size(store: Store):
    store.create_repo("images")
    store.put_file("images@master:/a.bin", b"x" * 1000)
    store.put_file("images@master:/b.bin", b"y" * 234)
    store.put_file("images@dev:/big.bin", b"z" * 5000)  # not on master: not counted

    info = store.inspect_repo("images")

    assert info.size_bytes == 1234
    assert sorted(info.branches) == ["dev", "master"]


def test_inspect_missing_repo_raises_repo_not_found(store: Store):
    with pytest.raises(RepoNotFound, match="'nope'") as raised:
        store.inspect_repo("nope")

    assert isinstance(raised.value, FileNotFoundError)


def test_delete_repo_removes_it_and_its_branches(store: Store):
    store.create_repo("images")
    store.put_file("images@master:/a.txt", b"a")
    store.create_repo("other")

    store.delete_repo("images")

    assert [r.name for r in store.list_repo()] == ["other"]
    with pytest.raises(RepoNotFound):
        store.inspect_repo("images")
    with pytest.raises(RepoNotFound):
        store.list_branch("images")


def test_deleted_repo_name_can_be_created_again_empty(store: Store):
    store.create_repo("images")
    store.put_file("images@master:/a.txt", b"a")
    store.delete_repo("images")

    store.create_repo("images")

    assert store.list_branch("images") == []


def test_delete_missing_repo_raises_repo_not_found(store: Store):
    with pytest.raises(RepoNotFound):
        store.delete_repo("nope")


def _commit_with_provenance(store: Store, source: str, target: str) -> None:
    head = store.inspect_commit(f"{source}@master")
    prov = (CommitRef(repo=source, branch="master", id=head.id),)
    with store.commit(f"{target}@master", provenance=prov) as c:
        c.put_file("/out.txt", b"derived")


def test_delete_repo_in_another_repos_provenance_is_refused(store: Store):
    store.create_repo("images")
    store.put_file("images@master:/a.png", b"png")
    store.create_repo("edges")
    _commit_with_provenance(store, "images", "edges")

    with pytest.raises(RepoInUse, match="edges"):
        store.delete_repo("images")
    assert store.get_file("images@master:/a.png") == b"png"


def test_delete_repo_in_provenance_is_allowed_with_force(store: Store):
    store.create_repo("images")
    store.put_file("images@master:/a.png", b"png")
    store.create_repo("edges")
    _commit_with_provenance(store, "images", "edges")

    store.delete_repo("images", force=True)

    assert [r.name for r in store.list_repo()] == ["edges"]
    assert store.get_file("edges@master:/out.txt") == b"derived"


def test_delete_repo_is_allowed_once_the_repo_using_it_is_deleted(store: Store):
    store.create_repo("images")
    store.put_file("images@master:/a.png", b"png")
    store.create_repo("edges")
    _commit_with_provenance(store, "images", "edges")

    store.delete_repo("edges")
    store.delete_repo("images")

    assert store.list_repo() == []
