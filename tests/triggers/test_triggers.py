"""Branch triggers, as Pachyderm's "Deferred Processing" page describes them (Python API).

The dvctl walk-through of the same page lives in tests/cli; these tests pin the conditions,
the chains and the validation rules down one by one.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dagster_versioned.errors import InvalidTrigger
from dagster_versioned.store import Store, Trigger
from dagster_versioned.store.triggers import next_cron_tick, parse_size

MB = 1_000_000


@pytest.fixture
def store(tmp_path) -> Store:
    s = Store.open(str(tmp_path / "store"))
    s.create_repo("data")
    s.create_branch("data@master")
    return s


def head(store: Store, branch: str) -> str | None:
    return store.inspect_branch(f"data@{branch}").head


def put(store: Store, path: str, size: int) -> str:
    store.put_file(f"data@staging:{path}", os.urandom(size))
    return head(store, "staging") or ""


@pytest.mark.parametrize(
    ("text", "size"),
    [("1MB", MB), ("1M", MB), ("1 MB", MB), ("500KB", 500_000), ("1.5G", 1_500_000_000),
     ("10", 10), ("1mb", MB), ("1MiB", MB)],
)  # fmt: skip
def test_sizes_parse_like_pachyderm_in_decimal_units(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "MB", "-1MB", "1XB", "one meg", "1 M B"])
def test_unparseable_sizes_are_refused_naming_the_value(text):
    with pytest.raises(InvalidTrigger, match="invalid trigger size"):
        Trigger(branch="staging", size=text)


def test_a_size_trigger_fires_once_a_megabyte_of_new_data_lands(store):
    put(store, "/small", 1000)
    store.create_branch("data@master", trigger=Trigger(branch="staging", size="1MB"))
    assert head(store, "master") != head(store, "staging")
    staging = put(store, "/file", 1024 * 1024)
    assert head(store, "master") == staging
    log = store.branch_log("data", "master")
    assert log[-1].reason == "trigger"
    assert log[-1].head == staging


def test_the_trigger_column_reads_like_pachyderms():
    assert Trigger(branch="staging", size="1MB").describe() == "staging on Size(1MB)"
    both = Trigger(branch="staging", size="1M", commits=3)
    assert both.describe() == "staging on Size(1M) or Commits(3)"
    all_ = Trigger(branch="staging", size="1M", commits=3, all=True)
    assert all_.describe() == "staging on Size(1M) and Commits(3)"


def test_a_trigger_may_name_a_branch_that_does_not_exist_yet(store):
    store.create_branch("data@master", trigger=Trigger(branch="staging", size="1MB"))
    assert store.inspect_branch("data@master").trigger == Trigger(branch="staging", size="1MB")
    put(store, "/big", 2 * MB)
    assert head(store, "master") == head(store, "staging")


def test_moving_the_head_by_hand_keeps_the_trigger_and_delete_branch_clears_it(store):
    trig = Trigger(branch="staging", size="1MB")
    put(store, "/a", 10)
    store.create_branch("data@master", trigger=trig)
    store.create_branch("data@master", head="data@staging")
    assert head(store, "master") == head(store, "staging")
    assert store.inspect_branch("data@master").trigger == trig
    store.delete_branch("data@master")
    store.create_branch("data@master")
    assert store.inspect_branch("data@master").trigger is None


def test_a_commits_trigger_fires_on_the_nth_commit(store):
    store.create_branch("data@master", trigger=Trigger(branch="staging", commits=3))
    put(store, "/1", 1)
    put(store, "/2", 1)
    assert head(store, "master") != head(store, "staging")
    third = put(store, "/3", 1)
    assert head(store, "master") == third


def test_all_requires_every_condition(store):
    store.create_branch(
        "data@master", trigger=Trigger(branch="staging", size="1K", commits=3, all=True)
    )
    for i in range(3):
        put(store, f"/tiny{i}", 1)
    assert head(store, "master") != head(store, "staging")
    big = put(store, "/big", 2000)
    assert head(store, "master") == big


def test_without_conditions_only_all_fires_and_then_on_every_commit(store):
    store.create_branch("data@never", trigger=Trigger(branch="staging"))
    store.create_branch("data@always", trigger=Trigger(branch="staging", all=True))
    first = put(store, "/a", 1)
    assert head(store, "always") == first
    assert head(store, "never") != first
    second = put(store, "/b", 1)
    assert head(store, "always") == second


def test_deleting_data_never_fires_a_size_trigger(store):
    put(store, "/big", 2 * MB)
    store.create_branch("data@master", trigger=Trigger(branch="staging", size="1MB"))
    promoted = head(store, "master")
    store.delete_file("data@staging:/big")
    assert head(store, "master") == promoted


def test_a_chain_of_triggers_fires_in_one_evaluation(store):
    store.create_branch("data@master", trigger=Trigger(branch="staging", commits=1))
    store.create_branch("data@prod", trigger=Trigger(branch="master", commits=1))
    new = put(store, "/a", 10)
    assert head(store, "master") == new
    assert head(store, "prod") == new


@pytest.mark.parametrize(
    "setup",
    [
        [("master", "master")],
        [("b", "a"), ("a", "b")],
        [("b", "a"), ("c", "b"), ("a", "c")],
    ],
)
def test_triggers_cannot_form_a_loop(store, setup):
    *ok, (target, source) = setup
    for t, s in ok:
        store.create_branch(f"data@{t}", trigger=Trigger(branch=s, size="1K"))
    with pytest.raises(InvalidTrigger, match="triggers cannot form a loop"):
        store.create_branch(f"data@{target}", trigger=Trigger(branch=source, size="1K"))


def test_negative_commits_and_bad_cron_specs_are_refused():
    with pytest.raises(InvalidTrigger, match="commits -1: can't trigger on a negative number"):
        Trigger(branch="staging", commits=-1)
    with pytest.raises(InvalidTrigger, match="invalid cron spec"):
        Trigger(branch="staging", cron="every hour")
    with pytest.raises(InvalidTrigger, match="invalid cron spec"):
        Trigger(branch="staging", cron="61 * * * *")
    with pytest.raises(InvalidTrigger, match="@every"):
        Trigger(branch="staging", cron="@every soon")


def test_cron_specs_accept_five_fields_aliases_and_every():
    t0 = datetime(2026, 1, 1, 10, 30, tzinfo=UTC)
    assert next_cron_tick("0 * * * *", t0) == datetime(2026, 1, 1, 11, 0, tzinfo=UTC)
    assert next_cron_tick("@daily", t0) == datetime(2026, 1, 2, 0, 0, tzinfo=UTC)
    assert next_cron_tick("@every 1h30m", t0) == t0 + timedelta(hours=1, minutes=30)


def test_a_cron_trigger_fires_once_a_tick_has_passed_since_the_target_head(store):
    put(store, "/a", 10)
    store.create_branch("data@master", trigger=Trigger(branch="staging", cron="@every 1h"))
    finished = store.inspect_commit("data@master").finished
    assert finished is not None
    assert store.evaluate_trigger("data", "master", at=finished + timedelta(minutes=30)) is None
    moved = store.evaluate_trigger("data", "master", at=finished + timedelta(minutes=61))
    assert moved is not None
    assert moved.head == head(store, "staging")


def test_a_custom_condition_is_asked_by_name(store):
    put(store, "/a", 10)
    store.create_branch("data@master", trigger=Trigger(branch="staging", condition="approved"))
    assert head(store, "master") != head(store, "staging")
    assert store.evaluate_trigger("data", "master", custom=lambda name: False) is None
    moved = store.evaluate_trigger("data", "master", custom=lambda name: name == "approved")
    assert moved is not None


@settings(max_examples=30, deadline=None)
@given(st.lists(st.one_of(st.integers(0, 1500), st.just(-1)), min_size=1, max_size=12))
def test_the_ref_log_records_exactly_one_entry_per_firing(ops):
    store = Store.open(f"memory://triggers-{os.urandom(6).hex()}")
    store.create_repo("data")
    store.create_branch("data@staging")
    store.create_branch("data@master", trigger=Trigger(branch="staging", size="1K"))
    files: dict[str, int] = {}
    expected_firings = 0
    for i, op in enumerate(ops):
        master = store.inspect_commit("data@master")
        if op == -1:
            staging = store.inspect_commit("data@staging")
            if staging.parent is None:
                continue
            store.create_branch("data@staging", head=f"data@{staging.parent}")
            continue
        files[f"/f{i}"] = op
        store.put_file(f"data@staging:/f{i}", b"x" * op)
        new_size = store.inspect_commit("data@staging").size_bytes
        if new_size - master.size_bytes >= 1000:
            expected_firings += 1
    firings = [e for e in store.branch_log("data", "master") if e.reason == "trigger"]
    assert len(firings) == expected_firings
    assert all(e.moved for e in firings)
