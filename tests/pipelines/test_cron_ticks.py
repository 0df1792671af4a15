"""Cron ticks as Pachyderm commits them, computed from a fixed clock (``pps/cron.py``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dagster_versioned.pps.cron import (
    commit_due_ticks,
    due_ticks,
    ensure_tick_repos,
    latest_tick,
    next_tick,
    tick_files,
)
from dagster_versioned.pps.inputs import cron, cron_inputs, cross, pfs
from dagster_versioned.pps.runner import run_job
from dagster_versioned.pps.spec import PipelineSpec
from dagster_versioned.pps.transform import Datum
from dagster_versioned.store import Store

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(str(tmp_path / "store"))


def test_due_ticks_are_the_schedule_times_after_the_latest_up_to_now():
    assert due_ticks("*/15 * * * *", at(7), at(60)) == [at(15), at(30), at(45), at(60)]
    assert due_ticks("@every 10m", at(0), at(25)) == [at(10), at(20)]
    assert due_ticks("@hourly", at(0), at(59)) == []


def test_ticks_are_whole_seconds_at_least_one_second_apart():
    assert next_tick("@every 1m", T0 + timedelta(seconds=5.9)) == T0 + timedelta(seconds=65)
    assert next_tick("@every 100ms", T0) == T0 + timedelta(seconds=1)


def test_missed_ticks_are_all_committed_oldest_first_up_to_the_limit(store):
    # Pachyderm's makeCronCommits: a tick already past is committed at once, so a restart
    # commits every missed tick, each named by its own time, not one for the latest.
    tick = cron("tick", "@every 1m", repo="ticks", start=T0)
    made = commit_due_ticks(store, tick, at(5.5), limit=3)
    assert [c.description for c in made] == [
        "cron tick 2024-01-01T00:01:00Z",
        "cron tick 2024-01-01T00:02:00Z",
        "cron tick 2024-01-01T00:03:00Z",
    ]
    assert len(commit_due_ticks(store, tick, at(5.5), limit=3)) == 2
    assert commit_due_ticks(store, tick, at(5.5)) == []
    assert latest_tick(store, tick) == at(5)


def test_each_tick_is_one_commit_with_a_new_global_id(store):
    tick = cron("tick", "@every 1m", repo="ticks", start=T0)
    made = commit_due_ticks(store, tick, at(2))
    assert len({c.id for c in made}) == 2
    assert store.inspect_commit("ticks@master").id == made[-1].id
    assert [c.repo for c in store.list_commit_set(made[-1].id)] == ["ticks"]


def test_without_overwrite_tick_files_accumulate_as_empty_files(store):
    tick = cron("tick", "@every 1m", repo="ticks", start=T0)
    commit_due_ticks(store, tick, at(3))
    assert tick_files(store, "ticks") == [
        "2024-01-01T00:01:00Z",
        "2024-01-01T00:02:00Z",
        "2024-01-01T00:03:00Z",
    ]
    assert store.get_file("ticks@master:/2024-01-01T00:03:00Z") == b""


def test_with_overwrite_each_tick_replaces_the_previous_file_in_the_same_commit(store):
    tick = cron("tick", "@every 1m", repo="ticks", start=T0, overwrite=True)
    first, second = commit_due_ticks(store, tick, at(2))
    assert tick_files(store, "ticks") == ["2024-01-01T00:02:00Z"]
    assert [f.path for f in store.list_file(f"ticks@{first.id}:/")] == ["/2024-01-01T00:01:00Z"]
    assert second.parent == first.id
    assert latest_tick(store, tick) == at(2)


def test_ticks_count_from_the_tick_repo_creation_without_a_start(store):
    spec = PipelineSpec(name="scraper", input=cron("tick", "@every 1m"), cmd=("true",))
    assert ensure_tick_repos(store, spec) == ["scraper_tick"]
    assert ensure_tick_repos(store, spec) == []
    (tick,) = cron_inputs(spec.input)
    assert latest_tick(store, tick) == store.inspect_repo("scraper_tick").created


def test_a_later_start_wins_over_older_tick_files(store):
    commit_due_ticks(store, cron("tick", "@every 1m", repo="ticks", start=T0), at(2))
    moved = cron("tick", "@every 1m", repo="ticks", start=at(30))
    assert latest_tick(store, moved) == at(30)
    assert [c.description for c in commit_due_ticks(store, moved, at(31))] == [
        "cron tick 2024-01-01T00:31:00Z"
    ]


def lists_inputs(datum: Datum) -> None:
    listing = sorted(f"{n}:{p.name}" for n in datum.input_names for p in datum.files(n))
    (datum.out / f"{datum.id}.txt").write_text("\n".join(listing))


@pytest.mark.parametrize(("overwrite", "datums"), [(False, 3 * 2), (True, 1 * 2)])
def test_a_cron_crossed_with_a_pfs_input_has_a_datum_per_tick_file_and_file(
    store, overwrite, datums
):
    store.create_repo("images")
    store.put_file("images@master:/a.png", b"A")
    store.put_file("images@master:/b.png", b"B")
    tick = cron("tick", "@every 1m", start=T0, overwrite=overwrite)
    spec = PipelineSpec(name="report", input=cross(tick, pfs("images")), fn=lists_inputs)
    (tick,) = cron_inputs(spec.input)
    last = commit_due_ticks(store, tick, at(3))[-1]
    job = run_job(store, spec, last.id)
    assert job.data_total == datums
    out = store.inspect_commit("report@master")
    assert out.id == last.id
    files = [f for f in store.walk_file("report@master:/") if f.type == "file"]
    listings = {store.get_file(f"report@master:{f.path}").decode() for f in files}
    assert "images:a.png\ntick:2024-01-01T00:03:00Z" in listings
