"""Human formats match pachctl's (docker/go-units sizes and durations, tabwriter tables)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone

import pytest

from dagster_versioned.cli import raw
from dagster_versioned.cli.formatting import (
    BAR_CHAR,
    Colored,
    ago,
    bytes_size,
    human_duration,
    print_table,
    progress_bar,
    render_plain,
)


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0B"),
        (1, "1B"),
        (1023, "1023B"),
        (1024, "1KiB"),
        (1536, "1.5KiB"),
        (58645, "57.27KiB"),  # pachctl docs: "57.27KiB"
        (390246, "381.1KiB"),
        (1 << 20, "1MiB"),
        (1258291, "1.2MiB"),
        (1048575, "1024KiB"),  # 4 significant digits round up, like Go's %.4g
        (5 * (1 << 30), "5GiB"),
        (3 * (1 << 40) // 2, "1.5TiB"),
    ],
)
def test_bytes_size_matches_go_units(size: int, text: str) -> None:
    assert bytes_size(size) == text


SECOND = 1
MINUTE = 60
HOUR = 3600
DAY = 24 * HOUR
WEEK = 7 * DAY
MONTH = 30 * DAY
YEAR = 365 * DAY


# The cases of go-units' TestHumanDuration, which pachctl's "… ago" columns use.
@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.45, "Less than a second"),
        (1 * SECOND, "1 second"),
        (45 * SECOND, "45 seconds"),
        (59 * SECOND, "59 seconds"),
        (60 * SECOND, "About a minute"),
        (3 * MINUTE, "3 minutes"),
        (35 * MINUTE + 40, "35 minutes"),
        (59 * MINUTE, "59 minutes"),
        (1 * HOUR, "About an hour"),
        (1 * HOUR + 29 * MINUTE, "About an hour"),
        (1 * HOUR + 31 * MINUTE, "2 hours"),
        (3 * HOUR + 29 * MINUTE, "3 hours"),
        (3 * HOUR + 31 * MINUTE, "4 hours"),
        (24 * HOUR, "24 hours"),
        (DAY + 12 * HOUR, "36 hours"),
        (2 * DAY, "2 days"),
        (13 * DAY + 5 * HOUR, "13 days"),
        (2 * WEEK, "2 weeks"),
        (4 * WEEK + 3 * DAY, "4 weeks"),
        (MONTH, "4 weeks"),
        (MONTH + 2 * WEEK, "6 weeks"),
        (2 * MONTH, "2 months"),
        (5 * MONTH + 2 * WEEK, "5 months"),
        (24 * MONTH, "24 months"),
        (24 * MONTH + 2 * WEEK, "2 years"),
        (3 * YEAR + 2 * MONTH, "3 years"),
        (-5, "Less than a second"),  # a clock slightly ahead of ours
    ],
)
def test_human_duration_matches_go_units(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_ago_appends_ago_and_shows_dash_for_no_time() -> None:
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert ago(now - timedelta(seconds=3), now) == "3 seconds ago"
    assert ago(now - timedelta(seconds=70), now) == "About a minute ago"
    assert ago(now - timedelta(minutes=5), now) == "5 minutes ago"
    assert ago(now - timedelta(minutes=65), now) == "About an hour ago"
    assert ago(now, now) == "Less than a second ago"
    assert ago(None, now) == "-"


def test_plain_table_pads_columns_like_tabwriter_without_trailing_spaces() -> None:
    text = render_plain(
        ("BRANCH", "HEAD", "TRIGGER"),
        [["staging", "f3506f0f", "-"], ["master", "8090bfb4", "staging on Size(1MB)"]],
    )
    assert text == (
        "BRANCH  HEAD     TRIGGER\nstaging f3506f0f -\nmaster  8090bfb4 staging on Size(1MB)\n"
    )


def test_plain_table_with_an_empty_last_column_has_no_trailing_blanks() -> None:
    text = render_plain(("NAME", "DESCRIPTION"), [["data", ""]])
    assert text == "NAME DESCRIPTION\ndata\n"


def test_progress_bar_is_green_yellow_red_in_proportion_and_ends_red_on_failure() -> None:
    assert [c.color for c in progress_bar(8, 8, 0, 0)] == ["green"] * 8
    assert [c.color for c in progress_bar(8, 1, 1, 0)] == ["green"] * 4 + ["yellow"] * 4
    bar = progress_bar(8, 99, 0, 1)
    assert [c.color for c in bar][-1] == "red"
    assert [c.color for c in bar][:7] == ["green"] * 7
    assert all(c.text == BAR_CHAR for c in bar)


def test_terminal_tables_are_drawn_with_rich_and_keep_every_cell() -> None:
    out = io.StringIO()
    print_table(
        ("ID", "PROGRESS"),
        [["abc", progress_bar(8, 1, 1, 0)], ["def", Colored("+", "green")]],
        out=out,
        terminal=True,
    )
    text = out.getvalue()
    assert "ID" in text
    assert "PROGRESS" in text
    assert BAR_CHAR * 8 in text
    assert "[green]" not in text  # cells are text, never parsed as rich markup


def test_raw_timestamps_are_protojson_rfc3339_in_utc() -> None:
    assert raw.timestamp(datetime(2021, 8, 2, 20, 13, 10, tzinfo=UTC)) == "2021-08-02T20:13:10Z"
    assert (
        raw.timestamp(datetime(2021, 8, 2, 20, 13, 10, 461000, tzinfo=UTC))
        == "2021-08-02T20:13:10.461Z"
    )
    assert (
        raw.timestamp(datetime(2021, 8, 2, 20, 13, 10, 461841, tzinfo=UTC))
        == "2021-08-02T20:13:10.461841Z"
    )
    plus_two = datetime(2021, 8, 2, 22, 13, 10, tzinfo=timezone(timedelta(hours=2)))
    assert raw.timestamp(plus_two) == "2021-08-02T20:13:10Z"
