"""Triggers through dvctl: head moves that fire them, and errors that name the bad value."""

from __future__ import annotations

import os

import pytest

from dagster_versioned.errors import InvalidTrigger
from dagster_versioned.store import Trigger

from .conftest import MB, Data, Dvctl


def heads(dv: Dvctl) -> dict[str, str]:
    """``dvctl list branch data`` as branch → head."""
    rows = dv.ok("list", "branch", "data").splitlines()[1:]
    return {row.split()[0]: row.split()[1] for row in rows}


def test_dvctl_create_branch_staging_head_master_fires_the_trigger_on_staging(dv: Dvctl):
    dv.ok("put", "file", "data@master:/big", input=os.urandom(2 * MB))
    dv.ok("create", "branch", "data@staging")
    dv.ok("create", "branch", "data@release", "--trigger", "staging", "--trigger-size", "1MB")
    assert heads(dv)["release"] != heads(dv)["master"]

    dv.ok("create", "branch", "data@staging", "--head", "master")

    listed = heads(dv)
    assert listed["staging"] == listed["release"] == listed["master"]


def test_dvctl_head_staging_2_rolls_staging_back_and_the_target_stays(dv: Dvctl, data: Data):
    dv.ok("create", "branch", "data@master", "--trigger", "staging", "--trigger-commits", "1")
    for i in range(3):
        dv.ok("put", "file", f"data@staging:/n{i}", input=b"%d" % i)
    top = heads(dv)["staging"]
    assert heads(dv)["master"] == top
    before = data.seq("master")

    dv.ok("create", "branch", "data@staging", "--head", "staging^2")

    assert heads(dv)["staging"] != top
    assert heads(dv)["master"] == top  # master holds staging's new head already
    assert data.moves("master", before) == []
    dv.ok("put", "file", "data@staging:/fixed", input=b"fixed")  # one commit past the fork
    assert heads(dv)["master"] == heads(dv)["staging"]


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["-t", "staging", "--trigger-commits=-1"], "invalid trigger commits -1"),
        (["-t", "staging", "--trigger-commits", "-1"], "negative number of commits"),
        (["-t", "staging", "--trigger-commits", "9" * 20], "9" * 20),
        (["-t", "staging", "--trigger-size", "lots"], "invalid trigger size 'lots'"),
        (["-t", "staging", "--trigger-size", "9" * 30], "9" * 30),
        (["-t", "staging", "--trigger-cron", "every day"], "invalid cron spec 'every day'"),
        (["-t", "staging", "--trigger-cron", "* * *"], "invalid cron spec '* * *'"),
        (["-t", "staging", "--trigger-cron", "@every soon"], "invalid duration 'soon'"),
        (["-t", "bad name"], "invalid branch name 'bad name'"),
        (["--trigger-size", "1MB"], "(got --trigger-size '1MB')"),
        (["--trigger-commits", "-1", "--trigger-all"], "(got --trigger-commits -1 --trigger-all)"),
    ],
)
def test_a_bad_trigger_option_is_refused_naming_the_value(
    dv: Dvctl, data: Data, flags: list[str], named: str
):
    dv.ok("create", "branch", "data@master")

    message = dv.error("create", "branch", "data@master", *flags)

    assert named in message
    assert data.store.inspect_branch("data@master").trigger is None


def test_the_negative_commits_message_says_what_is_valid(dv: Dvctl):
    message = dv.error("create", "branch", "data@master", "-t", "staging", "--trigger-commits=-1")

    assert message == (
        "invalid trigger commits -1: can't trigger on a negative number of commits; "
        "use 0 (no commits condition) or more"
    )


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"commits": -1}, "-1"),
        ({"commits": "3"}, "'3'"),
        ({"commits": 2**63}, str(2**63)),
        ({"size": 5}, "5"),
        ({"size": "1e400"}, "'1e400'"),
        ({"cron": 7}, "7"),
        ({"cron": ""}, "''"),
        ({"cron": "@every 2000000000h"}, "'@every 2000000000h'"),
        ({"condition": ""}, "''"),
        ({"branch": "a b"}, "'a b'"),
    ],
)
def test_every_trigger_validation_error_names_the_value(fields: dict[str, object], named: str):
    with pytest.raises(InvalidTrigger) as raised:
        Trigger(**{"branch": "staging", **fields})  # type: ignore[arg-type]

    assert named in str(raised.value)
    assert ": " in str(raised.value)  # and then what would be valid
