"""What a rollback means to a trigger.

A trigger only moves its target forward. When the source moves back to the target's head or
one of its ancestors, the target already holds everything in the new source head, and stays
where it is whatever the condition (size, commits, cron, all or any, a custom one). Commits
made after such a rollback are counted from where the two histories fork. A target moved back
by hand keeps its place until its source moves again (cron: until the next tick counted from
that move).

Pachyderm gets the first rule by never evaluating triggers on a manual move; it would count
commits after a rollback back to the root, and move a cron target at its next tick.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dagster_versioned.store import Trigger, commit_ops

from .conftest import MB, Data

EVERY_CONDITION = [
    pytest.param(Trigger(branch="staging", size="1"), id="size"),
    pytest.param(Trigger(branch="staging", commits=1), id="commits"),
    pytest.param(Trigger(branch="staging", cron="@every 1h"), id="cron"),
    pytest.param(Trigger(branch="staging", all=True), id="all-without-conditions"),
    pytest.param(Trigger(branch="staging", size="1", commits=1), id="size-or-commits"),
    pytest.param(Trigger(branch="staging", size="1", commits=1, all=True), id="size-and-commits"),
    pytest.param(Trigger(branch="staging", condition="always"), id="custom"),
]


@pytest.mark.parametrize("trigger", EVERY_CONDITION)
def test_a_source_rolled_back_behind_the_target_never_moves_it_back(data: Data, trigger):
    data.put("staging", "/a")
    data.store.create_branch("data@master", trigger=trigger)
    top = data.put("staging", "/bad")
    data.store.create_branch("data@master", head="data@staging")  # master holds /bad
    before = data.seq("master")

    data.store.create_branch("data@staging", head="data@staging^1")  # roll /bad back
    later = data.log("staging")[-1].time + timedelta(days=2)  # every cron tick has passed
    data.store.evaluate_trigger("data", "master", at=later, custom=lambda name: True)

    assert data.head("master") == top
    assert data.moves("master", before) == []


def test_even_a_bigger_ancestor_does_not_pull_the_target_back(data: Data):
    data.store.create_branch("data@master", trigger=Trigger(branch="staging", size="1MB"))
    big = data.put("staging", "/big", 2 * MB)
    assert data.head("master") == big
    data.store.delete_file("data@staging:/big")
    empty = data.head("staging")
    data.store.create_branch("data@master", head="data@staging")  # master: the empty commit

    data.store.create_branch("data@staging", head="data@staging^1")  # 2MB more than master

    assert data.head("staging") == big
    assert data.head("master") == empty  # big is in master's own history: nothing new


def test_commits_after_a_rollback_are_counted_from_where_the_histories_fork(data: Data):
    data.store.create_branch("data@master", trigger=Trigger(branch="staging", commits=2))
    data.put("staging", "/1")
    two = data.put("staging", "/2")
    assert data.head("master") == two
    data.store.create_branch("data@staging", head="data@staging^1")  # back to /1

    data.put("staging", "/3")  # one commit past the fork (Pachyderm counts 2: /3 and /1)
    assert data.head("master") == two
    four = data.put("staging", "/4")  # two past the fork

    assert data.head("master") == four
    assert {f.path for f in data.store.list_file("data@master:/")} == {"/1", "/3", "/4"}


def test_a_rollback_of_the_source_still_ahead_of_the_target_fires_as_a_commit_would(data: Data):
    data.store.create_branch("data@master", trigger=Trigger(branch="staging", size="1MB"))
    data.put("staging", "/small", 10)
    data.put("staging", "/big", 2 * MB)  # fires
    data.put("staging", "/more", 10)
    data.store.create_branch("data@master", head="data@staging^2")  # master back to /small
    before = data.seq("master")

    data.store.create_branch("data@staging", head="data@staging^1")  # staging back to /big

    assert data.moves("master", before) == [(data.head("staging"), "trigger")]


def test_a_target_moved_back_by_hand_keeps_its_place_until_the_source_moves(data: Data):
    data.store.create_branch("data@master", trigger=Trigger(branch="staging", commits=1))
    first = data.put("staging", "/1")
    data.put("staging", "/2")
    data.store.create_branch("data@master", head=f"data@{first}")
    assert data.head("master") == first  # its own trigger is not evaluated on its own move

    newest = data.put("staging", "/3")

    assert data.head("master") == newest


def test_a_cron_target_moved_back_by_hand_waits_for_the_next_tick_after_the_move(
    data: Data, monkeypatch: pytest.MonkeyPatch
):
    with monkeypatch.context() as clock:
        clock.setattr(commit_ops, "now", lambda: datetime.now(UTC) - timedelta(hours=3))
        first = data.put("staging", "/1")  # finished three hours ago
    data.put("staging", "/2")
    data.store.create_branch("data@master", trigger=Trigger(branch="staging", cron="@every 1h"))
    data.store.create_branch("data@master", head="data@staging")
    data.store.create_branch("data@master", head=f"data@{first}")  # back to the old commit…
    moved = data.log("master")[-1].time

    # …but ticks count from the move, so the sensor does not undo the rollback at once.
    assert data.store.evaluate_trigger("data", "master", at=moved + timedelta(minutes=59)) is None
    fired = data.store.evaluate_trigger("data", "master", at=moved + timedelta(minutes=61))
    assert fired is not None
    assert fired.head == data.head("staging")


def test_setting_a_trigger_does_not_restart_the_cron_clock(data: Data):
    data.put("staging", "/1")
    data.store.create_branch("data@master")
    moved = data.log("master")[-1].time
    data.store.create_branch("data@master", trigger=Trigger(branch="staging", cron="@every 1h"))
    assert data.log("master")[-1].reason == "config"

    fired = data.store.evaluate_trigger("data", "master", at=moved + timedelta(minutes=61))

    assert fired is not None
