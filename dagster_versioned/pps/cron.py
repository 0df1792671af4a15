"""Cron inputs' tick commits, as Pachyderm's ``makeCronCommits`` makes them (no Dagster here).

A cron input reads a tick repo; each tick of its schedule is one commit to the repo's master
adding an empty file named by the tick time (RFC 3339, UTC, whole seconds). With ``overwrite``
the same commit deletes the earlier tick files, so the input always has one datum; otherwise
they accumulate, one datum per tick, and only the new one is processed (the others are
skipped as already done).

Where the schedule stands is read from the store, not kept anywhere else: the newest tick file
on master, or the input's ``start`` (default: when the tick repo was created, which is when
the pipeline was created) if that is later. Pachyderm then sleeps until the next tick and
commits it, in a loop; a tick whose time has already passed is committed at once, so ticks
missed while nothing was running are all committed on restart, oldest first, each named by
its own scheduled time. ``commit_due_ticks`` does the same from a clock it is given, at most
``limit`` ticks a call, so a long outage catches up over several calls instead of at once.

Each tick commit has a new global id; the head move starts the pipeline's run through the
branch sensor of the tick repo, as for any input repo.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

from dagster_versioned.errors import AlreadyExists, NotFound
from dagster_versioned.pps.inputs import CronInput, cron_inputs, format_rfc3339, parse_rfc3339
from dagster_versioned.pps.spec import PipelineSpec
from dagster_versioned.store import Commit, Store
from dagster_versioned.store.triggers import next_cron_tick

MAX_TICKS_PER_CALL = 100
"""Missed ticks committed by one ``commit_due_ticks`` call; the rest wait for the next call."""
_SECOND = timedelta(seconds=1)


def next_tick(spec: str, after: datetime) -> datetime:
    """The first tick of ``spec`` after ``after``, in whole seconds and at least a second later.

    Tick files are named to the second, so a tick must be a later second than the one before
    it; robfig/cron (Pachyderm's parser) likewise rounds ``@every`` below a second up to one.
    """
    start = after.astimezone(UTC).replace(microsecond=0)
    tick = next_cron_tick(spec, start).replace(microsecond=0)
    return tick if tick > start else start + _SECOND


def due_ticks(
    spec: str, latest: datetime, now: datetime, *, limit: int = MAX_TICKS_PER_CALL
) -> list[datetime]:
    """The ticks of ``spec`` after ``latest`` and not after ``now``, oldest first, at most
    ``limit`` of them."""
    ticks: list[datetime] = []
    tick = next_tick(spec, latest)
    while tick <= now and len(ticks) < limit:
        ticks.append(tick)
        tick = next_tick(spec, tick)
    return ticks


def tick_time(name: str) -> datetime | None:
    """The time a tick file is named by, or ``None`` for a file that is not a tick."""
    if "T" not in name:  # a bare date parses as ISO 8601 too, but is no tick
        return None
    try:
        return parse_rfc3339(name.lstrip("/"), "tick file")
    except ValueError:
        return None


def tick_files(store: Store, repo: str) -> list[str]:
    """Names of the tick files on the tick repo's master (none before the first tick)."""
    try:
        return [info.path.rsplit("/", 1)[-1] for info in store.list_file(f"{repo}@master:/")]
    except NotFound:
        return []


def latest_tick(store: Store, inp: CronInput) -> datetime:
    """What the next tick is counted from: the newest tick file or ``start``, whichever is later
    (Pachyderm's ``getLatestCronTime``); ``start`` defaults to the tick repo's creation."""
    start = inp.start or store.inspect_repo(inp.repo).created
    times = [t for t in (tick_time(n) for n in tick_files(store, inp.repo)) if t is not None]
    newest = max(times, default=None)
    return newest if newest is not None and newest > start else start


def ensure_tick_repo(store: Store, inp: CronInput) -> bool:
    """Create the tick repo if it is missing, as Pachyderm's ``create pipeline`` does; whether
    it was created now."""
    with contextlib.suppress(NotFound):
        store.inspect_repo(inp.repo)
        return False
    try:
        store.create_repo(inp.repo, f"Cron tick repo for input '{inp.name}'")
    except AlreadyExists:  # created meanwhile by another process
        return False
    return True


def ensure_tick_repos(store: Store, spec: PipelineSpec) -> list[str]:
    """Create every missing tick repo of ``spec``'s cron inputs; the repos created."""
    return [inp.repo for inp in cron_inputs(spec.input) if ensure_tick_repo(store, inp)]


def write_tick(store: Store, inp: CronInput, tick: datetime) -> Commit:
    """Commit one tick: an empty file named by ``tick`` (after deleting the earlier ones with
    ``overwrite``), in one commit with a new global id."""
    name = format_rfc3339(tick)
    with store.commit(f"{inp.repo}@master", description=f"cron tick {name}") as writer:
        if inp.overwrite:
            writer.delete_file("/")
        writer.put_file(f"/{name}", b"")
    assert writer.landed is not None
    return writer.landed


def commit_due_ticks(
    store: Store, inp: CronInput, now: datetime, *, limit: int = MAX_TICKS_PER_CALL
) -> list[Commit]:
    """Commit every tick of ``inp`` due by ``now`` (at most ``limit``), oldest first."""
    ensure_tick_repo(store, inp)
    ticks = due_ticks(inp.spec, latest_tick(store, inp), now, limit=limit)
    return [write_tick(store, inp, tick) for tick in ticks]


def commit_pipeline_ticks(
    store: Store, spec: PipelineSpec, now: datetime, *, limit: int = MAX_TICKS_PER_CALL
) -> list[Commit]:
    """``commit_due_ticks`` for every cron input of ``spec``."""
    return [
        commit
        for inp in cron_inputs(spec.input)
        for commit in commit_due_ticks(store, inp, now, limit=limit)
    ]
