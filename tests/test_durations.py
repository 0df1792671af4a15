"""One duration grammar for every setting that takes one: Go's ``time.ParseDuration`` plus ``d``.

Pachyderm specs and commands are written in Go's grammar, so ``1h30m``, ``.5s`` and ``300ms``
must mean here what they mean there; gc's ``--grace 2d`` and numbers of seconds keep working.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner

from dagster_versioned.cli.main import load_commands
from dagster_versioned.durations import parse_duration
from dagster_versioned.errors import (
    InvalidArgument,
    InvalidDuration,
    InvalidSpec,
    InvalidTrigger,
    VersionedError,
)
from dagster_versioned.pps.inputs import pfs
from dagster_versioned.pps.spec import PipelineSpec, spec_from_json
from dagster_versioned.store import Store
from dagster_versioned.store.gc import gc
from dagster_versioned.store.triggers import next_cron_tick


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("1h30m", 5400.0),
        ("2d", 172800.0),
        ("1.5h", 5400.0),
        ("300ms", 0.3),
        ("90s", 90.0),
        ("0", 0.0),
        ("-0", 0.0),
        ("+5m", 300.0),
        (".5s", 0.5),
        ("5.s", 5.0),
        ("1h0m0.5s", 3600.5),
        ("2h45m", 9900.0),
        ("1500us", 0.0015),
        ("1500µs", 0.0015),  # U+00B5 MICRO SIGN
        ("1500μs", 0.0015),  # U+03BC GREEK SMALL LETTER MU
        ("250ns", 250e-9),
        ("1d12h", 129600.0),
        ("1h15m30.918273645s", 4530.918273645),  # the example of Go's documentation
        (" 10m ", 600.0),
        (45, 45.0),
        (2.5, 2.5),
        (0, 0.0),
    ],
)
def test_go_durations_days_and_numbers_of_seconds_are_read(value, seconds):
    assert parse_duration(value, "timeout") == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("", "use a duration like '90s'"),
        ("soon", "use a duration like '90s'"),
        ("90", "missing unit after '90'"),
        ("1h30", "missing unit after '30'"),
        ("5 m", "unknown unit ' m'"),
        ("3w", "unknown unit 'w'"),
        ("1H", "unknown unit 'H'"),
        (".s", "use a duration like '90s'"),
        ("1h-5m", "unknown unit 'h-'"),
        ("-1s", "must not be negative"),
        (-3, "must not be negative"),
        ("300000y", "unknown unit 'y'"),
        ("1e3s", "unknown unit 'e'"),  # Go has no exponents: "unknown unit "e" in duration"
        ("1.5.5s", "missing unit after '1.5'"),  # Go: "missing unit in duration"
        ("-", "use a duration like '90s'"),
        ("+", "use a duration like '90s'"),
        ("1s ago", "unknown unit 's ago'"),
        ("2000000000h", "longer than the longest duration"),
        (float("inf"), "longer than the longest duration"),
        (float("nan"), "use a duration like"),
        (True, "use a duration like"),
        (None, "use a duration like"),
    ],
)
def test_a_bad_duration_is_refused_naming_the_setting_the_value_and_the_forms(value, why):
    with pytest.raises(InvalidDuration) as raised:
        parse_duration(value, "job_timeout")

    message = str(raised.value)
    assert message.startswith(f"invalid job_timeout {value!r}: ")
    assert why in message
    assert "units ns, us, ms, s, m, h, d" in message
    assert isinstance(raised.value, InvalidArgument)


def test_positive_refuses_zero_and_unitless_takes_a_bare_number_of_seconds():
    with pytest.raises(InvalidDuration, match="must be greater than 0"):
        parse_duration("0s", "interval", positive=True)
    assert parse_duration("90", "--grace", unitless=True) == 90.0
    assert parse_duration("1.5", "--grace", unitless=True) == 1.5
    with pytest.raises(InvalidDuration, match="or a number of seconds"):
        parse_duration("soon", "--grace", unitless=True)


def test_every_in_a_trigger_cron_uses_the_same_grammar_and_must_be_positive():
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    assert next_cron_tick("@every 1d", t0) == t0 + timedelta(days=1)
    assert next_cron_tick("@every 1.5h", t0) == t0 + timedelta(minutes=90)
    with pytest.raises(InvalidTrigger, match="invalid cron spec '@every 0': invalid duration '0'"):
        next_cron_tick("@every 0", t0)
    with pytest.raises(InvalidTrigger, match="unknown unit 'x'"):
        next_cron_tick("@every 5x", t0)


def test_gc_takes_its_grace_as_seconds_or_a_duration_and_refuses_a_negative_one(tmp_path):
    store = Store.open(str(tmp_path / "store"))
    store.create_repo("scratch")
    store.put_file("scratch@master:/big", b"x" * 5000)
    store.delete_repo("scratch")  # its objects are unreferenced now, but young

    assert gc(store, grace="2d", dry_run=True).deleted == []
    assert gc(store, grace="0", dry_run=True).deleted != []
    with pytest.raises(InvalidDuration, match="invalid gc grace -1: a duration must not be"):
        gc(store, grace=-1, dry_run=True)


def test_goes_own_examples_read_as_in_go_and_a_negative_one_is_refused_with_the_reason():
    # time.ParseDuration's documentation: "such as "300ms", "-1.5h" or "2h45m"".
    assert parse_duration("300ms", "timeout") == pytest.approx(0.3)
    assert parse_duration("2h45m", "timeout") == 9900.0
    # Go reads "-1.5h" as minus 90 minutes; no setting here can wait a negative time.
    with pytest.raises(InvalidDuration, match=r"invalid timeout '-1.5h': a duration must not be"):
        parse_duration("-1.5h", "timeout")


def _spec_timeout(value: str) -> float:
    raw = {
        "pipeline": {"name": "edges"},
        "transform": {"cmd": ["true"]},
        "input": {"pfs": {"repo": "images", "glob": "/*"}},
        "job_timeout": value,
    }
    timeout = spec_from_json(raw).job_timeout
    assert timeout is not None
    return timeout


def _spec_datum_timeout(value: str) -> float:
    raw = {
        "pipeline": {"name": "edges"},
        "transform": {"cmd": ["true"]},
        "input": {"pfs": {"repo": "images", "glob": "/*"}},
        "datumTimeout": value,
    }
    timeout = spec_from_json(raw).datum_timeout
    assert timeout is not None
    return timeout


def _every(value: str) -> float:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    return (next_cron_tick(f"@every {value}", t0) - t0).total_seconds()


def _dvctl_gc_grace(value: str) -> float:
    storage = f"memory://durations-{uuid.uuid4().hex}"
    Store.open(storage)
    result = CliRunner().invoke(
        load_commands(), ["--storage", storage, "gc", "--dry-run", "--grace", value]
    )
    if result.exit_code != 0:
        raise InvalidDuration(result.stderr)
    assert f"younger than {value}" in result.stdout
    return parse_duration(value, "--grace")


def _gc_grace(value: str) -> float:
    store = Store.open(f"memory://durations-{uuid.uuid4().hex}")
    gc(store, grace=value, dry_run=True)
    return parse_duration(value, "gc grace")


SETTINGS: dict[str, Callable[[str], float]] = {
    "job_timeout in a spec": _spec_timeout,
    "datum_timeout in a spec": _spec_datum_timeout,
    "@every of a cron trigger or input": _every,
    "dvctl gc --grace": _dvctl_gc_grace,
    "gc(grace=...)": _gc_grace,
}


@pytest.mark.parametrize("setting", SETTINGS)
@pytest.mark.parametrize(("value", "seconds"), [("1h30m", 5400.0), ("2d", 172800.0)])
def test_every_duration_setting_reads_hours_and_minutes_and_days(setting, value, seconds):
    assert SETTINGS[setting](value) == seconds


@pytest.mark.parametrize("setting", SETTINGS)
def test_every_duration_setting_refuses_a_bad_value_naming_it_and_the_valid_forms(setting):
    with pytest.raises((InvalidDuration, InvalidSpec, InvalidTrigger)) as raised:
        SETTINGS[setting]("90x")

    message = str(raised.value)
    assert "'90x'" in message
    assert "unknown unit 'x'" in message
    assert "units ns, us, ms, s, m, h, d" in message


@pytest.mark.parametrize("field", ["job_timeout", "datum_timeout"])
def test_the_python_api_reads_timeouts_with_the_same_grammar(field):
    kwargs: dict[str, Any] = {field: "1h30m"}
    try:
        spec = PipelineSpec(name="edges", fn=lambda datum: None, input=pfs("images"), **kwargs)
    except VersionedError as e:  # refusing it clearly would also be a fix
        pytest.fail(f"refused: {e}")
    assert getattr(spec, field) == 5400.0
