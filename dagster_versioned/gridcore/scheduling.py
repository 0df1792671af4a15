"""When a grid job's next batch is due: pure decisions, taken on every sensor tick.

The sensor asks ``plan_tick`` what to start. Cron ticks missed while the daemon was down
collapse into one batch for the latest due tick (Orchest's rule), so a daemon back after six
missed ticks starts exactly one batch and the next at the next future tick. Ticks at or before
the job's ``schedule_anchor`` (confirmation, resume, cron edit) never run: resuming launches
nothing until the next tick after the resume.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from croniter import croniter

from dagster_versioned.errors import InvalidArgument
from dagster_versioned.gridcore.records import GridJobRecord, GridJobStatus

_EPSILON = timedelta(microseconds=1)


def check_cron(schedule: str) -> str:
    """Refuse a cron string croniter cannot parse (Orchest's "Invalid cron schedule")."""
    if not isinstance(schedule, str) or not croniter.is_valid(schedule):
        raise InvalidArgument(
            f"invalid cron schedule {schedule!r}: expected five fields like '*/5 * * * *'"
        )
    return schedule


def latest_tick(schedule: str, at: datetime) -> datetime:
    """The latest tick of ``schedule`` at or before ``at``."""
    tick: datetime = croniter(schedule, at + _EPSILON).get_prev(datetime)
    return tick


def next_tick(schedule: str, after: datetime) -> datetime:
    """The first tick of ``schedule`` strictly after ``after``."""
    tick: datetime = croniter(schedule, after).get_next(datetime)
    return tick


def due_cron_tick(
    record: GridJobRecord, last_tick: datetime | None, now: datetime
) -> datetime | None:
    """The one tick to run now, if any: the latest due tick after every tick already handled."""
    if record.schedule is None:
        return None
    tick = latest_tick(record.schedule, now)
    for floor in (record.schedule_anchor, last_tick):
        if floor is not None and tick <= floor:
            return None
    return tick


@dataclass(frozen=True, slots=True)
class Due:
    """A batch to create now."""

    trigger: str
    trigger_key: str
    scheduled_time: datetime
    request: str | None = None


@dataclass(slots=True)
class TickPlan:
    """What one tick decided."""

    batches: list[Due] = field(default_factory=list)
    handled_tick: datetime | None = None
    """A cron tick to mark handled (run, or skipped because of no-overlap)."""
    dropped_requests: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def plan_tick(
    record: GridJobRecord,
    *,
    status: GridJobStatus,
    has_once_batch: bool,
    active: bool,
    requests: Sequence[str],
    last_tick: datetime | None,
    now: datetime,
) -> TickPlan:
    """Decide a tick from the job's state; ``active``: a batch still has runs to finish."""
    plan = TickPlan()
    manual_ok = (record.is_cron and status in (GridJobStatus.STARTED, GridJobStatus.PAUSED)) or (
        not record.is_cron and status is GridJobStatus.PENDING
    )
    for request in requests:
        if manual_ok:
            plan.batches.append(Due("manual", f"request:{request}", now, request))
        else:
            plan.dropped_requests.append(request)
            plan.notes.append(f"run-now request {request} dropped: the job is {status.value}")
    if not record.is_cron:
        start = record.start_at
        if status is GridJobStatus.PENDING and not has_once_batch:
            if start is None or now >= start:
                plan.batches.append(Due("once", "once", start or now))
            else:
                plan.notes.append(f"waiting until {start.isoformat()}")
        return plan
    if status is not GridJobStatus.STARTED:
        plan.notes.append(f"the job is {status.value}")
        return plan
    tick = due_cron_tick(record, last_tick, now)
    if tick is None:
        assert record.schedule is not None
        plan.notes.append(f"next tick at {next_tick(record.schedule, now).isoformat()}")
        return plan
    if active and not record.allow_overlap:
        if record.on_overlap == "queue":
            plan.notes.append(f"tick {tick.isoformat()} waits: an earlier batch is still active")
        else:
            plan.handled_tick = tick
            plan.notes.append(f"tick {tick.isoformat()} skipped: an earlier batch is still active")
        return plan
    plan.handled_tick = tick
    plan.batches.append(Due("cron", f"cron:{tick.isoformat()}", tick))
    return plan
