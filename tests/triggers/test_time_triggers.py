"""Triggers on the clock: ``Store.evaluate_time_triggers``, what the Dagster trigger sensor calls.

Size and commit conditions can only come true when a head moves, and are evaluated then; a cron
tick or a custom condition can come true between commits. So a scheduler's tick evaluates every
branch whose trigger has a cron or custom condition, in every repo, at its own clock, and moves
those that fire (one ref-log entry each, chains included). A trigger that cannot be evaluated is
skipped, not allowed to stop the others.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from dagster_versioned.errors import RepoNotFound
from dagster_versioned.store import Commit, Trigger

from .conftest import MB, Data


def test_a_quiet_cron_target_moves_on_the_first_tick_after_its_head_moved(data: Data):
    new = data.put("staging", "/a")
    data.store.create_branch("data@master", trigger=Trigger(branch="staging", cron="@every 1h"))
    moved_at = data.log("master")[-1].time
    before = data.seq("master")

    assert data.store.evaluate_time_triggers(at=moved_at + timedelta(minutes=59)) == []
    fired = data.store.evaluate_time_triggers(at=moved_at + timedelta(minutes=61))

    assert [(e.repo, e.branch, e.head) for e in fired] == [("data", "master", new)]
    assert data.moves("master", before) == [(new, "trigger")]


def test_size_and_commit_triggers_are_left_to_head_moves(data: Data):
    data.store.create_branch("data@staging")
    data.store.create_branch("data@big", trigger=Trigger(branch="staging", size="1MB"))
    data.store.create_branch("data@counted", trigger=Trigger(branch="staging", commits=5))
    data.put("staging", "/small", 10)
    cursors = {b: data.seq(b) for b in ("big", "counted")}

    later = data.log("staging")[-1].time + timedelta(days=9)
    assert data.store.evaluate_time_triggers(at=later) == []
    assert {b: data.moves(b, cursors[b]) for b in cursors} == {"big": [], "counted": []}


def test_every_repo_is_evaluated_and_chains_fire_downstream(data: Data):
    data.store.create_repo("other")
    data.store.put_file("other@staging:/a", b"a")
    data.store.create_branch("other@master", trigger=Trigger(branch="staging", cron="@every 1h"))
    data.store.create_branch("other@prod", trigger=Trigger(branch="master", size="0"))
    data.put("staging", "/b", MB)
    data.store.create_branch("data@master", trigger=Trigger(branch="staging", cron="@every 1h"))

    later = data.log("master")[-1].time + timedelta(hours=2)
    fired = data.store.evaluate_time_triggers(at=later)

    assert sorted((e.repo, e.branch) for e in fired) == [("data", "master"), ("other", "master")]
    prod = data.store.inspect_branch("other@prod").head
    assert prod == data.store.inspect_branch("other@staging").head


def test_a_custom_condition_is_asked_with_the_source_and_target_heads(data: Data):
    target = data.put("master", "/old")
    source = data.put("staging", "/new")
    data.store.create_branch("data@master", trigger=Trigger(branch="staging", condition="ok"))
    asked: list[tuple[str, str, str | None]] = []

    def custom(name: str, src: Commit, dst: Commit | None) -> bool:
        asked.append((name, src.id, dst.id if dst else None))
        return True

    fired = data.store.evaluate_time_triggers(custom)

    assert asked == [("ok", source, target)]
    assert [e.head for e in fired] == [source]


def test_without_an_evaluator_a_custom_condition_does_not_hold(data: Data):
    data.put("staging", "/new")
    data.store.create_branch("data@master", trigger=Trigger(branch="staging", condition="ok"))

    assert data.store.evaluate_time_triggers() == []


def test_a_trigger_that_fails_is_logged_and_the_others_still_fire(
    data: Data, caplog: pytest.LogCaptureFixture
):
    new = data.put("staging", "/new")
    data.store.create_branch("data@broken", trigger=Trigger(branch="staging", condition="bad"))
    data.store.create_branch("data@fine", trigger=Trigger(branch="staging", condition="good"))

    def custom(name: str, src: Commit, dst: Commit | None) -> bool:
        if name == "bad":
            raise RepoNotFound("gone")
        return True

    with caplog.at_level(logging.WARNING, logger="dagster_versioned"):
        fired = data.store.evaluate_time_triggers(custom)

    assert [(e.branch, e.head) for e in fired] == [("fine", new)]
    assert "trigger on data@broken" in caplog.text
