"""The open head: a branch's open commit as pachctl shows it, while readers keep finished data.

Pachyderm moves a branch to a commit at ``StartCommit``: ``inspect commit repo@master`` shows
it unfinished, ``list branch`` names it as the head and ``wait commit repo@master`` waits for
it. The store shows that view when asked (``open_head=True``, what ``dvctl`` does); the default
view of a branch stays its last finished commit, so sensors, jobs, the IO manager and ``dv://``
never see data that is still being written.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import fsspec
import pytest

from dagster_versioned.errors import BranchNotFound, CommitNotFinished, CommitNotFound
from dagster_versioned.store import Commit, Store, Trigger


@pytest.fixture
def repo(store: Store) -> str:
    store.create_repo("w")
    return "w"


def _put(store: Store, ref: str, data: bytes) -> Commit:
    commit = store.put_file(ref, data)
    assert commit is not None
    return commit


def _later(action: Callable[[], object], delay: float = 0.3) -> threading.Thread:
    """Run ``action`` on another thread after ``delay`` seconds (a second writer)."""

    def run() -> None:
        time.sleep(delay)
        action()

    worker = threading.Thread(target=run)
    worker.start()
    return worker


# -- inspect ---------------------------------------------------------------------------------


def test_inspect_commit_with_open_head_names_the_open_commit_with_no_finished_time(
    store: Store, repo: str
):
    finished = _put(store, "w@master:/f", b"v1")
    opened = store.start_commit("w@master", description="wip")

    head = store.inspect_commit("w@master", open_head=True)

    assert head.id == opened.id
    assert head.finished is None
    assert head.description == "wip"
    assert head.parent == finished.id


def test_inspect_commit_by_default_still_names_the_last_finished_commit(store: Store, repo: str):
    finished = _put(store, "w@master:/f", b"v1")
    store.start_commit("w@master")

    assert store.inspect_commit("w@master").id == finished.id
    assert store.inspect_commit("w@master").is_finished


def test_ancestry_counts_from_the_open_head(store: Store, repo: str):
    first = _put(store, "w@master:/f", b"v1")
    second = _put(store, "w@master:/f", b"v2")
    opened = store.start_commit("w@master")

    assert store.inspect_commit("w@master^1", open_head=True).id == second.id
    assert store.inspect_commit("w@master^2", open_head=True).id == first.id
    assert store.inspect_commit("w@master.1", open_head=True).id == first.id
    assert store.inspect_commit("w@master.3", open_head=True).id == opened.id
    with pytest.raises(CommitNotFound, match="only 2 ancestors"):
        store.inspect_commit("w@master^3", open_head=True)


def test_the_open_heads_parent_is_the_finished_head_it_will_land_on(store: Store, repo: str):
    _put(store, "w@master:/f", b"v1")
    store.start_commit("w@master")
    with store.commit("w@master") as c:  # lands beside the open commit, which then follows it
        c.put_file("/g", b"g")
    landed = store.inspect_commit("w@master")

    assert store.inspect_commit("w@master", open_head=True).parent == landed.id
    assert store.inspect_commit("w@master^1", open_head=True).id == landed.id


def test_a_branch_without_an_open_commit_has_the_same_head_either_way(store: Store, repo: str):
    finished = _put(store, "w@master:/f", b"v1")

    assert store.inspect_commit("w@master", open_head=True) == finished
    assert store.inspect_branch("w@master", open_head=True) == store.inspect_branch("w@master")
    assert store.list_branch("w", open_heads=True) == store.list_branch("w")


# -- branches --------------------------------------------------------------------------------


def test_inspect_and_list_branch_show_the_open_commit_as_head_only_when_asked(
    store: Store, repo: str
):
    finished = _put(store, "w@master:/f", b"v1")
    opened = store.start_commit("w@master")

    assert store.inspect_branch("w@master", open_head=True).head == opened.id
    assert [b.head for b in store.list_branch("w", open_heads=True)] == [opened.id]
    assert store.inspect_branch("w@master").head == finished.id
    assert [b.head for b in store.list_branch("w")] == [finished.id]


def test_an_open_head_keeps_the_branchs_trigger_and_creation_time(store: Store, repo: str):
    store.create_branch("w@master", trigger=Trigger(branch="staging", commits=5))
    before = store.inspect_branch("w@master")
    store.start_commit("w@master")

    shown = store.inspect_branch("w@master", open_head=True)

    assert shown.trigger == before.trigger
    assert shown.created == before.created
    assert shown.seq == before.seq


def test_start_commit_on_a_new_branch_makes_it_a_branch_whose_head_is_open(store: Store, repo: str):
    _put(store, "w@master:/f", b"v1")
    opened = store.start_commit("w@new")

    info = store.inspect_branch("w@new", open_head=True)
    assert (info.name, info.head, info.seq) == ("new", opened.id, -1)
    assert store.inspect_commit("w@new", open_head=True).id == opened.id
    assert [b.name for b in store.list_branch("w", open_heads=True)] == ["new", "master"]
    # The default view is unchanged: the branch exists once its first commit has landed.
    with pytest.raises(BranchNotFound):
        store.inspect_branch("w@new")
    assert [b.name for b in store.list_branch("w")] == ["master"]

    store.finish_commit("w@new")
    assert store.inspect_branch("w@new").head == opened.id
    assert store.inspect_branch("w@new", open_head=True).seq == 0


def test_a_branch_that_neither_exists_nor_has_an_open_commit_is_not_found(store: Store, repo: str):
    with pytest.raises(BranchNotFound, match="'nope'"):
        store.inspect_branch("w@nope", open_head=True)
    with pytest.raises(BranchNotFound, match="'nope'"):
        store.inspect_commit("w@nope", open_head=True)


# -- wait ------------------------------------------------------------------------------------


def test_wait_commit_on_a_branch_blocks_until_its_open_commit_is_finished(store: Store, repo: str):
    _put(store, "w@master:/f", b"v1")
    opened = store.start_commit("w@master")

    def finish() -> None:
        store.put_file("w@master:/f", b"v2")
        store.finish_commit("w@master")

    worker = _later(finish)
    started = time.monotonic()
    waited = store.wait_commit("w@master", timeout=30, open_head=True)
    worker.join()

    assert time.monotonic() - started >= 0.25
    assert waited.id == opened.id
    assert waited.is_finished
    assert store.get_file(f"w@{waited.id}:/f") == b"v2"


def test_wait_commit_on_a_new_branch_waits_for_its_first_commit(store: Store, repo: str):
    opened = store.start_commit("w@new")

    worker = _later(lambda: store.finish_commit("w@new"))
    waited = store.wait_commit("w@new", timeout=30, open_head=True)
    worker.join()

    assert waited.id == opened.id
    assert waited.is_finished


def test_wait_commit_returns_the_commit_it_waited_for_not_a_later_head(store: Store, repo: str):
    opened = store.start_commit("w@master")

    def finish_then_commit_again() -> None:
        store.finish_commit("w@master")
        _put(store, "w@master:/g", b"g")

    worker = _later(finish_then_commit_again)
    waited = store.wait_commit("w@master", timeout=30, open_head=True)
    worker.join()

    assert waited.id == opened.id


def test_wait_commit_on_an_open_head_gives_up_after_its_timeout(store: Store, repo: str):
    opened = store.start_commit("w@master")

    with pytest.raises(CommitNotFinished, match=opened.id):
        store.wait_commit("w@master", timeout=0.2, open_head=True)


def test_wait_commit_on_an_open_head_that_is_deleted_raises_commit_not_found(
    store: Store, repo: str
):
    _put(store, "w@master:/f", b"v1")
    opened = store.start_commit("w@master")

    worker = _later(lambda: store.delete_commit("w@master"))
    with pytest.raises(CommitNotFound, match=f"{opened.id}.*deleted before it finished"):
        store.wait_commit("w@master", timeout=30, open_head=True)
    worker.join()


def test_wait_commit_by_default_returns_the_finished_head_at_once(store: Store, repo: str):
    finished = _put(store, "w@master:/f", b"v1")
    store.start_commit("w@master")

    assert store.wait_commit("w@master", timeout=0.2).id == finished.id


# -- list commit -----------------------------------------------------------------------------


def test_list_commit_with_open_head_starts_at_the_open_commit(store: Store, repo: str):
    first = _put(store, "w@master:/f", b"v1")
    second = _put(store, "w@master:/f", b"v2")
    opened = store.start_commit("w@master")

    history = store.list_commit("w@master", open_head=True)
    assert [c.id for c in history] == [opened.id, second.id, first.id]
    assert [c.is_finished for c in history] == [False, True, True]
    assert history[0].parent == second.id
    assert [c.id for c in store.list_commit("w@master^1", open_head=True)] == [
        second.id,
        first.id,
    ]
    assert [c.id for c in store.list_commit("w@master", number=2, open_head=True)] == [
        opened.id,
        second.id,
    ]
    assert [c.id for c in store.list_commit(f"w@{opened.id}", open_head=True)] == [
        opened.id,
        second.id,
        first.id,
    ]


def test_list_commit_with_open_head_lists_a_new_branchs_open_first_commit(store: Store, repo: str):
    opened = store.start_commit("w@new")

    assert [c.id for c in store.list_commit("w@new", open_head=True)] == [opened.id]


def test_list_commit_of_a_whole_repo_is_the_same_either_way(store: Store, repo: str):
    _put(store, "w@master:/f", b"v1")
    store.start_commit("w@master")

    assert store.list_commit("w", open_head=True) == store.list_commit("w")


# -- readers keep the finished data ----------------------------------------------------------


def test_readers_of_a_branch_see_the_finished_data_while_a_commit_is_open(store: Store, repo: str):
    _put(store, "w@master:/f", b"finished")
    store.start_commit("w@master")
    store.put_file("w@master:/f", b"still being written")
    store.put_file("w@master:/new", b"not yet")

    assert store.get_file("w@master:/f") == b"finished"
    with store.open_file("w@master:/f") as stream:
        assert stream.read() == b"finished"
    assert [f.path for f in store.list_file("w@master")] == ["/f"]

    store.finish_commit("w@master")
    assert store.get_file("w@master:/f") == b"still being written"
    assert store.get_file("w@master:/new") == b"not yet"


def test_dv_filesystem_reads_the_finished_data_while_a_commit_is_open(
    store: Store, repo: str, store_location: tuple[str, dict[str, Any]]
):
    _put(store, "w@master:/f", b"finished")
    store.start_commit("w@master")
    store.put_file("w@master:/f", b"still being written")
    url, options = store_location
    fs = fsspec.filesystem("dv", storage=url, **options)

    assert fs.cat_file("dv://w@master/f") == b"finished"
    assert fs.ls("dv://w@master", detail=False) == ["w@master/f"]


def test_an_open_commit_writes_no_ref_log_entry_until_it_lands(store: Store, repo: str):
    """Sensors read the ref log past their cursor: nothing there means no job starts."""
    _put(store, "w@master:/f", b"v1")
    cursor = store.inspect_branch("w@master").seq
    opened = store.start_commit("w@master")
    store.put_file("w@master:/f", b"v2")

    assert store.branch_log("w", "master", after=cursor) == []

    store.finish_commit("w@master")
    assert [e.head for e in store.branch_log("w", "master", after=cursor)] == [opened.id]


def test_a_trigger_fires_only_when_the_open_commit_lands(store: Store, repo: str):
    _put(store, "w@staging:/f", b"v1")
    store.create_branch("w@master", trigger=Trigger(branch="staging", commits=1))
    before = store.inspect_branch("w@master").head
    opened = store.start_commit("w@staging")
    store.put_file("w@staging:/f", b"v2")

    assert store.inspect_branch("w@master").head == before

    store.finish_commit("w@staging")
    assert store.inspect_branch("w@master").head == opened.id


def test_listing_from_an_ancestor_of_the_head_leaves_out_the_open_commit(tmp_path):
    store = Store.open(str(tmp_path / "store"))
    store.create_repo("w")
    first = store.put_file("w@master:/a", b"1")
    second = store.put_file("w@master:/a", b"2")
    opened = store.start_commit("w@master")
    assert [c.id for c in store.list_commit("w@master")][:1] == [opened.id]
    assert [c.id for c in store.list_commit("w@master^1")] == [first.id]
    assert second.id not in [c.id for c in store.list_commit("w@master^1")]
