"""Commits: ids, the commit context, open commits shared between processes, records, refs."""

from __future__ import annotations

import multiprocessing
import re
import threading
import time
from typing import Any

import pytest

from dagster_versioned.errors import (
    AlreadyExists,
    CommitFinished,
    CommitNotFinished,
    CommitNotFound,
    InvalidRef,
)
from dagster_versioned.store import Commit, CommitRef, Origin, Store

from .workers import put_files

_ID = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture
def repo(store: Store) -> str:
    store.create_repo("repo")
    return "repo"


def _put(store: Store, ref: str, data: bytes | str) -> Commit:
    commit = store.put_file(ref, data)
    assert commit is not None
    return commit


def _files(store: Store, ref: str) -> dict[str, bytes]:
    return {
        f.path: store.get_file(f"{ref}:{f.path}") for f in store.walk_file(ref) if f.type == "file"
    }


def test_commit_ids_are_32_lowercase_hex_digits(store: Store, repo: str):
    ids = {
        store.create_branch("repo@master").head,
        _put(store, "repo@master:/a", b"a").id,
        store.start_commit("repo@dev").id,
    }

    assert len(ids) == 3
    assert all(i is not None and _ID.match(i) for i in ids)


def test_commit_context_puts_copies_and_deletes_then_finishes(store: Store, repo: str):
    _put(store, "repo@master:/old.txt", b"old")
    _put(store, "repo@master:/keep.txt", b"keep")

    with store.commit("repo@master", description="rework") as c:
        c.put_file("/new.txt", b"new")
        c.copy_file("repo@master:/keep.txt", "/copy.txt")
        c.delete_file("/old.txt")

    head = store.inspect_commit("repo@master")
    assert head.description == "rework"
    assert head.is_finished
    assert _files(store, "repo@master") == {
        "/copy.txt": b"keep",
        "/keep.txt": b"keep",
        "/new.txt": b"new",
    }


def test_writes_inside_a_commit_context_apply_in_order(store: Store, repo: str):
    with store.commit("repo@master") as c:
        c.put_file("/a.txt", b"first")
        c.put_file("/a.txt", b"second")
        c.put_file("/b.txt", b"b")
        c.delete_file("/b.txt")

    assert _files(store, "repo@master") == {"/a.txt": b"second"}


def test_exception_inside_a_commit_context_leaves_the_head_untouched(store: Store, repo: str):
    before = _put(store, "repo@master:/a.txt", b"a")

    def write_then_fail() -> None:
        with store.commit("repo@master") as c:
            c.put_file("/b.txt", b"b")
            c.delete_file("/a.txt")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        write_then_fail()

    assert store.inspect_branch("repo@master").head == before.id
    assert _files(store, "repo@master") == {"/a.txt": b"a"}
    assert len(store.list_commit("repo@master")) == 1


def test_start_put_finish_commit_collects_branch_writes_into_the_open_commit(
    store: Store, repo: str
):
    base = _put(store, "repo@master:/a.txt", b"a")
    opened = store.start_commit("repo@master", description="batch")

    assert store.put_file("repo@master:/b.txt", b"b") is None
    assert store.put_file("repo@master:/c.txt", b"c") is None
    assert store.delete_file("repo@master:/a.txt") is None
    assert store.inspect_branch("repo@master").head == base.id  # nothing visible yet
    finished = store.finish_commit("repo@master")

    assert finished.id == opened.id
    assert finished.parent == base.id
    assert finished.description == "batch"
    assert store.inspect_branch("repo@master").head == opened.id
    assert _files(store, "repo@master") == {"/b.txt": b"b", "/c.txt": b"c"}
    assert len(store.list_commit("repo@master")) == 2


@pytest.mark.parametrize("branch_exists", [True, False])
def test_an_open_commit_is_inspectable_and_listed_unfinished(
    store: Store, repo: str, branch_exists: bool
):
    if branch_exists:
        store.create_branch("repo@master")
    opened = store.start_commit("repo@master")

    inspected = store.inspect_commit(f"repo@{opened.id}")

    assert inspected.id == opened.id
    assert not inspected.is_finished
    assert inspected.finished is None
    assert opened.id in [c.id for c in store.list_commit("repo@master")]


def test_writes_from_two_processes_into_one_open_commit_are_both_kept(
    shared_location: tuple[str, dict[str, Any]],
):
    url, options = shared_location
    store = Store.open(url, **options)
    store.create_repo("repo")
    opened = store.start_commit("repo@master")
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=put_files, args=(url, options, "repo@master:/p0", ["a", "b"])),
        ctx.Process(target=put_files, args=(url, options, "repo@master:/p1", ["c", "d"])),
    ]

    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    finished = store.finish_commit(f"repo@{opened.id}")

    assert [p.exitcode for p in procs] == [0, 0]
    assert finished.id == opened.id
    assert sorted(_files(store, "repo@master")) == ["/p0/a", "/p0/b", "/p1/c", "/p1/d"]
    assert store.get_file("repo@master:/p1/d") == b"content of d"


@pytest.mark.parametrize("by", ["branch", "id"])
def test_finish_commit_by_branch_or_by_id(store: Store, repo: str, by: str):
    opened = store.start_commit("repo@master")
    store.put_file("repo@master:/a.txt", b"a")

    finished = store.finish_commit("repo@master" if by == "branch" else f"repo@{opened.id}")

    assert finished.id == opened.id
    assert finished.is_finished
    assert store.inspect_branch("repo@master").head == opened.id


@pytest.mark.parametrize("by", ["branch", "id"])
def test_finishing_a_commit_twice_raises_commit_finished(store: Store, repo: str, by: str):
    opened = store.start_commit("repo@master")
    ref = "repo@master" if by == "branch" else f"repo@{opened.id}"
    store.finish_commit(ref)

    with pytest.raises(CommitFinished):
        store.finish_commit(ref)


def test_second_start_commit_on_a_branch_with_an_open_commit_raises_commit_not_finished(
    store: Store, repo: str
):
    opened = store.start_commit("repo@master")

    with pytest.raises(CommitNotFinished, match=opened.id):
        store.start_commit("repo@master")
    store.start_commit("repo@other")  # other branches are independent


def test_delete_commit_abandons_an_open_commit(store: Store, repo: str):
    base = _put(store, "repo@master:/a.txt", b"a")
    opened = store.start_commit("repo@master")
    store.put_file("repo@master:/b.txt", b"b")

    store.delete_commit(f"repo@{opened.id}")

    assert store.inspect_branch("repo@master").head == base.id
    assert _files(store, "repo@master") == {"/a.txt": b"a"}
    assert store.start_commit("repo@master").id != opened.id


def test_one_shot_put_file_outside_an_open_commit_makes_one_user_commit_each(
    store: Store, repo: str
):
    first = _put(store, "repo@master:/a.txt", b"a")
    second = _put(store, "repo@master:/b.txt", b"b")

    history = store.list_commit("repo@master")
    assert [c.id for c in history] == [second.id, first.id]
    assert [c.origin for c in history] == [Origin.USER, Origin.USER]
    assert second.parent == first.id


def test_put_file_returns_the_commit_it_made(store: Store, repo: str):
    made = _put(store, "repo@master:/a.txt", b"a")

    assert made == store.inspect_commit(f"repo@{made.id}")
    assert made.files == 1
    assert made.size_bytes == 1


def test_commit_record_has_every_field(store: Store, repo: str):
    store.create_repo("source")
    source = _put(store, "source@master:/in.txt", b"in")
    prov = (CommitRef(repo="source", branch="master", id=source.id),)
    parent = _put(store, "repo@master:/a.txt", b"abc")
    with store.commit("repo@master", description="with provenance", provenance=prov) as c:
        c.put_file("/b.txt", b"de")

    commit = store.inspect_commit("repo@master")

    assert _ID.match(commit.id)
    assert commit.repo == "repo"
    assert commit.branch == "master"
    assert commit.parent == parent.id
    assert commit.origin is Origin.USER
    assert commit.description == "with provenance"
    assert commit.started <= commit.finished  # type: ignore[operator]
    assert commit.size_bytes == 5
    assert commit.provenance == prov
    assert commit.to_json().keys() >= {
        "id", "repo", "branch", "parent", "origin", "description", "started", "finished",
        "size_bytes", "provenance",
    }  # fmt: skip


def test_list_commit_is_newest_first_and_number_limits_it(store: Store, repo: str):
    ids = [_put(store, f"repo@master:/f{i}", b"x").id for i in range(5)]

    assert [c.id for c in store.list_commit("repo@master")] == ids[::-1]
    assert [c.id for c in store.list_commit("repo@master", number=2)] == ids[:2:-1][:2]
    assert [c.id for c in store.list_commit("repo@master", number=2)] == [ids[4], ids[3]]


def test_list_commit_of_a_repo_lists_every_branch(store: Store, repo: str):
    a = _put(store, "repo@master:/a", b"a")
    b = _put(store, "repo@dev:/b", b"b")

    assert {c.id for c in store.list_commit("repo")} == {a.id, b.id}


def test_list_commit_set_finds_one_global_id_across_repos(store: Store, repo: str):
    store.create_repo("other")
    global_id = "0123456789abcdef0123456789abcdef"
    with store.commit("repo@master", commit_id=global_id) as c:
        c.put_file("/a", b"a")
    with store.commit("other@master", commit_id=global_id) as c:
        c.put_file("/b", b"b")
    _put(store, "other@master:/c", b"c")

    found = store.list_commit_set(global_id)

    assert sorted(c.repo for c in found) == ["other", "repo"]
    assert {c.id for c in found} == {global_id}


def test_a_global_id_names_one_commit_per_repo(store: Store, repo: str):
    global_id = "0123456789abcdef0123456789abcdef"
    with store.commit("repo@master", commit_id=global_id) as c:
        c.put_file("/a", b"a")

    with (
        pytest.raises(AlreadyExists, match=global_id),
        store.commit("repo@master", commit_id=global_id),
    ):
        pass


def test_inspect_commit_by_branch_and_by_id_agree(store: Store, repo: str):
    made = _put(store, "repo@master:/a", b"a")

    assert store.inspect_commit("repo@master") == store.inspect_commit(f"repo@{made.id}")


def test_inspect_missing_commit_raises_commit_not_found(store: Store, repo: str):
    _put(store, "repo@master:/a", b"a")

    with pytest.raises(CommitNotFound):
        store.inspect_commit("repo@" + "0" * 32)


def test_wait_commit_returns_when_another_thread_finishes_the_commit(store: Store, repo: str):
    opened = store.start_commit("repo@master")

    def finish_later() -> None:
        time.sleep(0.3)
        store.put_file("repo@master:/late.txt", b"late")
        store.finish_commit("repo@master")

    worker = threading.Thread(target=finish_later)
    worker.start()
    started = time.monotonic()
    waited = store.wait_commit(f"repo@{opened.id}", timeout=30)
    worker.join()

    assert waited.id == opened.id
    assert waited.is_finished
    assert time.monotonic() - started >= 0.25
    assert store.get_file(f"repo@{opened.id}:/late.txt") == b"late"


def test_wait_commit_gives_up_after_its_timeout(store: Store, repo: str):
    opened = store.start_commit("repo@master")

    with pytest.raises(CommitNotFinished):
        store.wait_commit(f"repo@{opened.id}", timeout=0.2)


def test_ancestry_refs_name_the_nth_ancestor(store: Store, repo: str):
    ids = [_put(store, f"repo@master:/f{i}", f"v{i}").id for i in range(4)]  # oldest first
    expected = {
        "repo@master": 3,
        "repo@master^": 2,
        "repo@master^1": 2,
        "repo@master^^": 1,
        "repo@master^3": 0,
        "repo@master~2": 1,
        "repo@master~~": 1,
        "repo@master.1": 0,
        "repo@master.3": 2,
        f"repo@{ids[2]}": 2,
        f"repo@{ids[2]}^1": 1,
        f"repo@{ids[2]}^2": 0,
    }

    resolved = {ref: ids.index(store.inspect_commit(ref).id) for ref in expected}

    assert resolved == expected


def test_too_deep_ancestry_raises_commit_not_found(store: Store, repo: str):
    first = _put(store, "repo@master:/a", b"a")
    _put(store, "repo@master:/b", b"b")

    for ref in ("repo@master^2", "repo@master^^^", "repo@master.3", f"repo@{first.id}^1"):
        with pytest.raises(CommitNotFound, match=r"not found: .* only \d"):
            store.inspect_commit(ref)


def test_mixing_caret_and_tilde_raises_invalid_ref(store: Store, repo: str):
    _put(store, "repo@master:/a", b"a")

    for ref in ("repo@master^~", "repo@master~^", "repo@master^2~1"):
        with pytest.raises(InvalidRef, match="cannot mix"):
            store.inspect_commit(ref)
