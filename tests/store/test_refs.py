"""Ref logs and refs: how a branch's states are stored, and what each kind of ref may name.

A branch's ref log is a revision log (``revlog.py``) in its own layout: one canonical JSON entry
per state at ``repos/<repo>/branches/<branch>/<seq:012>.json``, its number under ``seq``, no
write token, and a ``HEAD`` copy of the newest. Those bytes are the storage format, so they are
pinned here. Refs are parsed into exact records: a branch, a path on a branch, a commit, a path
in a commit; a ref of the wrong kind is refused naming the value and the forms that are valid.
"""

from __future__ import annotations

import json

import pytest

from dagster_versioned.errors import CorruptStore, InvalidRef
from dagster_versioned.store import Store, layout
from dagster_versioned.store.commits import canonical_json
from dagster_versioned.store.names import (
    BranchRef,
    FileRef,
    PathRef,
    RevRef,
    parse_branch_ref,
    parse_file_ref,
    parse_path_ref,
    parse_rev_ref,
)

ID = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def store(tmp_path) -> Store:
    s = Store.open(str(tmp_path / "store"))
    s.create_repo("data")
    return s


def test_each_branch_state_is_one_canonical_entry_and_head_copies_the_newest(store: Store):
    store.put_file("data@master:/a", b"a")
    entry = store.refs.latest("data", "master")
    assert entry is not None

    stored = store.backend.read(layout.branch_entry("data", "master", entry.seq))

    assert stored == canonical_json(entry.to_json())
    assert set(json.loads(stored)) == {
        *("repo", "branch", "seq", "head", "previous", "trigger", "reason", "time", "created")
    }
    assert store.backend.read(layout.branch_hint("data", "master")) == stored
    assert layout.branch_entry("data", "master", 1).endswith("/branches/master/000000000001.json")


def test_a_missing_head_hint_is_recovered_by_listing_the_log(store: Store):
    for name in ("a", "b", "c"):
        store.put_file(f"data@master:/{name}", name.encode())
    newest = store.refs.latest("data", "master")
    store.backend.delete(layout.branch_hint("data", "master"))

    assert store.refs.latest("data", "master") == newest
    assert [e.seq for e in store.branch_log("data", "master")] == [0, 1, 2]


def test_an_unreadable_entry_names_its_key(store: Store):
    store.put_file("data@master:/a", b"a")
    key = layout.branch_entry("data", "master", 1)
    store.backend.write(key, b'{"seq": 1, "repo": "data"}')

    with pytest.raises(CorruptStore, match=f"ref log entry {key} is unreadable"):
        store.refs.latest("data", "master")


def test_each_kind_of_ref_parses_to_its_own_record():
    assert parse_branch_ref("data@dev") == BranchRef(repo="data", branch="dev")
    assert parse_path_ref("data@dev:/a/b/") == PathRef(repo="data", branch="dev", path="/a/b")
    assert parse_rev_ref("data@dev^2:/a") == RevRef(repo="data", base="dev", ancestors=2)
    assert parse_rev_ref(f"data@{ID}").is_commit
    assert parse_file_ref("data@dev.3") == FileRef(
        rev=RevRef(repo="data", base="dev", nth=3), path="/"
    )
    assert str(parse_file_ref("data@dev~1:/x")) == "data@dev^1:/x"


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        (parse_branch_ref, "data", "invalid ref 'data': expected repo@branch, like data@master"),
        (parse_branch_ref, f"data@{ID}", "not a commit id or an ancestor"),
        (parse_branch_ref, "data@dev^", "expected repo@branch"),
        (parse_branch_ref, "data@dev:/a", "a path is not allowed here"),
        (parse_rev_ref, "data", "name a branch or commit, like data@master or data@<commit id>"),
        (parse_file_ref, "data:/a", "name a branch or commit"),
        (parse_path_ref, "data@dev", "give a path after ':', like data@dev:/file"),
        (parse_path_ref, f"data@{ID}:/a", "write to a branch, like data@master:/path"),
        (parse_path_ref, "data@dev.1:/a", "write to a branch"),
    ],
)
def test_a_ref_of_the_wrong_kind_is_refused_naming_it_and_the_valid_forms(parse, text, message):
    with pytest.raises(InvalidRef, match="^" + "invalid ref '") as refused:
        parse(text)
    assert text in str(refused.value)
    assert message in str(refused.value)
