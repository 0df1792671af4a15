"""A failed write leaves the branch head unchanged and the store usable.

Writes go objects → tree nodes → commit record → ref-log entry, and only the last makes
anything visible; so whether the failure is the caller's exception or the storage failing
part-way, readers see the old head, and the next commit works.
"""

from __future__ import annotations

import pytest

from dagster_versioned.store import Store

from .helpers import CallCounter, FailingWrites


@pytest.fixture
def repo(store: Store) -> str:
    store.create_repo("repo")
    with store.commit("repo@master") as c:
        c.put_file("/a.txt", b"a")
        c.put_file("/dir/b.txt", b"b")
    return "repo"


def _files(store: Store) -> dict[str, bytes]:
    return {
        f.path: store.get_file(f"repo@master:{f.path}")
        for f in store.walk_file("repo@master")
        if f.type == "file"
    }


BEFORE = {"/a.txt": b"a", "/dir/b.txt": b"b"}


def _change(store: Store, tag: str) -> None:
    with store.commit("repo@master") as c:
        c.put_file("/a.txt", f"a changed {tag}")
        c.put_file(f"/dir/new-{tag}.txt", tag)
        c.put_file(f"/other/{tag}.bin", tag * 100)
        c.delete_file("/dir/b.txt")


def _after(tag: str) -> dict[str, bytes]:
    return {
        "/a.txt": f"a changed {tag}".encode(),
        f"/dir/new-{tag}.txt": tag.encode(),
        f"/other/{tag}.bin": (tag * 100).encode(),
    }


def test_exception_inside_commit_leaves_head_unchanged_and_a_later_commit_works(
    store: Store, repo: str
):
    head = store.inspect_branch("repo@master")

    def write_then_fail() -> None:
        with store.commit("repo@master") as c:
            c.put_file("/a.txt", b"half-done")
            c.delete_file("/dir/b.txt")
            raise KeyError("caller failed")

    with pytest.raises(KeyError):
        write_then_fail()

    assert store.inspect_branch("repo@master") == head
    assert _files(store) == BEFORE
    _change(store, "later")
    assert _files(store) == _after("later")


def _writes_of_one_commit(store: Store) -> list[tuple[str, str]]:
    """The backend writes a commit shaped like ``_change`` makes, in order."""
    counter = CallCounter(store, ("write", "create"))
    counter.active = True
    try:
        _change(store, "probe")
    finally:
        counter.restore()
    store.create_branch("repo@master", head="repo@master^")  # back to the original content
    return counter.calls


def test_backend_failure_at_any_write_of_a_commit_leaves_the_head_unchanged(
    store: Store, repo: str
):
    writes = _writes_of_one_commit(store)
    assert any(key.endswith(".json") and "/branches/" in key for _, key in writes)

    for n in range(len(writes)):
        tag = f"t{n}"
        head = store.inspect_branch("repo@master")
        failing = FailingWrites(store, n)
        try:
            _change(store, tag)
            landed = True
        except OSError:
            landed = False
        finally:
            failing.restore()
        assert failing.failed_key is not None, f"write {n} was never reached"
        visible = store.inspect_branch("repo@master")
        if "/branches/" in failing.failed_key and failing.failed_key.endswith("/HEAD"):
            # the head moved by its ref-log entry already; the HEAD copy is only a hint
            assert landed, "a commit whose ref-log entry exists must not report failure"
            assert visible.head != head.head
            assert _files(store) == _after(tag)
            store.create_branch("repo@master", head=f"repo@{head.head}")
        else:
            assert not landed, f"failing write {n} ({failing.failed_key}) was swallowed"
            assert visible.head == head.head, f"head moved though write {n} failed"
            assert _files(store) == BEFORE, f"content changed though write {n} failed"

    _change(store, "final")
    assert _files(store) == _after("final")
