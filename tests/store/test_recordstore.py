"""The engines' records go through ``Store.records``: only in the record areas, paged lists,
compare-and-swap updates through one revision log."""

from __future__ import annotations

import pytest

from dagster_versioned.errors import CorruptStore, InvalidArgument
from dagster_versioned.store import Store, layout


def test_a_record_reads_back_what_was_put(store: Store) -> None:
    key = layout.pipeline_record("edges")
    assert store.records.read(key) is None
    store.records.put(key, b'{"name": "edges"}')
    assert store.records.read_json(key) == {"name": "edges"}
    assert store.records.exists(key)


def test_create_is_exclusive(store: Store) -> None:
    key = layout.job_stop("edges", "j1")
    assert store.records.create(key, b"now")
    assert not store.records.create(key, b"later")
    assert store.records.read(key) == b"now"


@pytest.mark.parametrize(
    "key", ["repos/images/repo.json", "objects/ab/abcd", "jobs/../repos/x", "", "jobs/a/../../x"]
)
def test_keys_outside_the_record_areas_are_refused(store: Store, key: str) -> None:
    with pytest.raises(InvalidArgument, match="outside the record areas"):
        store.records.put(key, b"x")


def test_listing_pages_by_name(store: Store) -> None:
    for name in ["a", "b", "c", "d"]:
        store.records.put(f"{layout.PIPELINES}/{name}.json", b"{}")
    assert store.records.list(layout.PIPELINES) == ["a.json", "b.json", "c.json", "d.json"]
    first = store.records.list(layout.PIPELINES, limit=3)
    rest = store.records.list(layout.PIPELINES, after=first[-1], limit=3)
    assert first + rest == ["a.json", "b.json", "c.json", "d.json"]
    assert store.records.list(f"{layout.JOBS}/none") == []
    with pytest.raises(InvalidArgument, match="limit"):
        store.records.list(layout.PIPELINES, limit=0)


def test_delete_tree_removes_a_job_and_its_parts(store: Store) -> None:
    store.records.put(layout.job_datums("edges", "j1"), b"[]")
    store.records.put(layout.job_plan("edges", "j1"), b"{}")
    store.records.put(layout.job_datums("edges", "j2"), b"[]")
    store.records.delete_tree(layout.job_dir("edges", "j1"))
    assert store.records.read(layout.job_plan("edges", "j1")) is None
    assert store.records.read(layout.job_datums("edges", "j2")) == b"[]"


def test_an_unreadable_record_names_its_key(store: Store) -> None:
    key = layout.pipeline_record("broken")
    store.records.put(key, b"{not json")
    with pytest.raises(CorruptStore, match=r"pipelines/broken\.json"):
        store.records.read_json(key)


def test_updates_go_through_one_revision_log(store: Store) -> None:
    log = store.records.log(layout.job_dir("edges", "j1"), hint=layout.job_hint("edges", "j1"))
    log.create({"state": "created"})
    done = log.update(lambda r: {**(r.value if r else {}), "state": "done"}, what="job j1")
    assert done is not None
    assert done.seq == 1
    assert store.records.read_json(layout.job_hint("edges", "j1"))["state"] == "done"
