"""When triggers are evaluated: on every head move of their source branch.

A landed commit, a move by hand (``create_branch(head=...)``, ``dvctl create branch --head``),
a trigger firing (on a commit, or in ``evaluate_trigger`` as the cron sensor calls it) and a
move back all evaluate the triggers on the moved branch, exactly as a finished commit does.
Chains fire transitively, and every move is one ref-log entry (one run downstream).
"""

from __future__ import annotations

from datetime import timedelta

from dagster_versioned.store import Trigger

from .conftest import MB, Data


def test_moving_the_source_with_head_fires_the_trigger(data: Data):
    master = data.put("master", "/big", 2 * MB)
    data.store.create_branch("data@staging")
    data.store.create_branch("data@release", trigger=Trigger(branch="staging", size="1MB"))
    before = data.seq("release")

    data.store.create_branch("data@staging", head="data@master")

    assert data.head("staging") == master
    assert data.moves("release", before) == [(master, "trigger")]


def test_a_move_by_hand_to_the_same_head_evaluates_nothing(data: Data):
    data.put("staging", "/a")
    data.store.create_branch("data@master", trigger=Trigger(branch="staging", all=True))
    before = data.seq("master")

    data.store.create_branch("data@staging", head="data@staging")

    assert data.moves("master", before) == []


def test_moving_the_source_back_with_head_staging_2_fires_when_still_ahead_of_the_target(
    data: Data,
):
    data.store.create_branch("data@master", trigger=Trigger(branch="staging", commits=1))
    c1, c2, _c3, c4 = (data.put("staging", f"/n{i}") for i in range(1, 5))
    assert data.head("master") == c4  # commits=1: master followed every commit
    data.store.create_branch("data@master", head="data@staging^3")  # master back to c1 by hand
    assert data.head("master") == c1  # its own trigger waits for staging to move
    before = data.seq("master")

    data.store.create_branch("data@staging", head="data@staging^2")  # staging back to c2

    assert data.head("staging") == c2
    assert data.moves("master", before) == [(c2, "trigger")]  # c2 is one commit past c1


def test_a_new_branch_made_with_head_is_a_move_of_it(data: Data):
    master = data.put("master", "/a")
    data.store.create_branch("data@release", trigger=Trigger(branch="staging", commits=1))

    data.store.create_branch("data@staging", head="data@master")  # staging did not exist

    assert data.head("release") == master


def test_a_chain_of_three_fires_transitively_from_one_move_one_entry_per_move(data: Data):
    data.put("staging", "/old")
    data.store.create_branch("data@master", trigger=Trigger(branch="staging", commits=1))
    data.store.create_branch("data@prod", trigger=Trigger(branch="master", size="1MB"))
    data.store.create_branch("data@archive", trigger=Trigger(branch="prod", all=True))
    incoming = data.put("incoming", "/big", 2 * MB)
    cursors = {b: data.seq(b) for b in ("staging", "master", "prod", "archive")}

    data.store.create_branch("data@staging", head="data@incoming")

    assert data.moves("staging", cursors["staging"]) == [(incoming, "move")]
    for branch in ("master", "prod", "archive"):
        assert data.moves(branch, cursors[branch]) == [(incoming, "trigger")], branch


def test_a_chain_stops_where_a_condition_does_not_hold(data: Data):
    data.store.create_branch("data@master", trigger=Trigger(branch="staging", commits=1))
    data.store.create_branch("data@prod", trigger=Trigger(branch="master", size="1MB"))
    data.store.create_branch("data@archive", trigger=Trigger(branch="prod", all=True))
    cursors = {b: data.seq(b) for b in ("prod", "archive")}

    small = data.put("staging", "/small", 10)

    assert data.head("master") == small
    assert data.moves("prod", cursors["prod"]) == []  # 10 bytes is not 1MB of new data
    assert data.moves("archive", cursors["archive"]) == []  # so prod never moved


def test_a_cron_trigger_fired_by_evaluate_trigger_fires_the_triggers_downstream(data: Data):
    new = data.put("staging", "/a")
    data.store.create_branch("data@master", trigger=Trigger(branch="staging", cron="@every 1h"))
    data.store.create_branch("data@prod", trigger=Trigger(branch="master", commits=1))
    data.store.create_branch("data@nightly", trigger=Trigger(branch="prod", cron="@every 1h"))
    moved_at = data.log("master")[-1].time
    cursors = {b: data.seq(b) for b in ("prod", "nightly")}

    fired = data.store.evaluate_trigger("data", "master", at=moved_at + timedelta(minutes=61))

    assert fired is not None
    assert fired.head == new
    assert data.moves("prod", cursors["prod"]) == [(new, "trigger")]
    # Further down, a cron condition is asked at the sensor's clock, not the wall clock.
    assert data.moves("nightly", cursors["nightly"]) == [(new, "trigger")]


def test_evaluate_trigger_reports_the_branch_it_was_asked_about(data: Data):
    new = data.put("staging", "/a")
    data.store.create_branch("data@master", trigger=Trigger(branch="staging", condition="ok"))
    data.store.create_branch("data@prod", trigger=Trigger(branch="master", all=True))

    fired = data.store.evaluate_trigger("data", "master", custom=lambda name: name == "ok")

    assert fired is not None
    assert (fired.branch, fired.head) == ("master", new)
    assert data.head("prod") == new  # in prod's own log


def test_setting_a_trigger_still_evaluates_it_at_once(data: Data):
    staging = data.put("staging", "/big", 2 * MB)

    data.store.create_branch("data@master", trigger=Trigger(branch="staging", size="1MB"))

    assert data.head("master") == staging
