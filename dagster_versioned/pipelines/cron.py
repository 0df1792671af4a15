"""The Dagster side of cron inputs: a sensor that commits due ticks to the tick repos.

Pachyderm's pipeline master runs a loop per cron input that sleeps until the next tick; here
the Dagster daemon evaluates ``dv_cron_ticks`` every few seconds instead, and it commits every
tick that came due (``pps/cron.py``). It is a sensor, not a Dagster schedule, because ``@every``
has no cron form and because where a schedule stands is the tick repo's content, which a
sensor reads on each evaluation: a daemon that was down catches up from the store, as
Pachyderm does, rather than from Dagster's own tick history.

The sensor only writes commits. The tick repo is an input repo like any other, so its branch
sensor (``dv_<repo>_master``) sees the head move and starts the pipeline's run with the tick
commit's id as the global id, and the output commit shares it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from dagster_versioned.io.resource import open_store
from dagster_versioned.pipelines.assets import Pipeline
from dagster_versioned.pps.cron import MAX_TICKS_PER_CALL, commit_due_ticks
from dagster_versioned.pps.inputs import CronInput, cron_inputs

CRON_SENSOR_NAME = "dv_cron_ticks"
CRON_SENSOR_INTERVAL = 10
"""Seconds between evaluations: how late a tick's commit can be (Pachyderm's is on time)."""


def _now() -> datetime:
    return datetime.now(UTC)


def pipeline_cron_inputs(pipelines: Sequence[Pipeline]) -> list[CronInput]:
    """Every cron input of ``pipelines``, one per tick repo (the first one declared wins)."""
    by_repo: dict[str, CronInput] = {}
    for p in pipelines:
        for inp in cron_inputs(p.spec.input):
            by_repo.setdefault(inp.repo, inp)
    return list(by_repo.values())


def cron_tick_sensor(
    pipelines: Sequence[Pipeline],
    *,
    storage: str | None = None,
    storage_options: dict[str, Any] | None = None,
    name: str = CRON_SENSOR_NAME,
    minimum_interval_seconds: int = CRON_SENSOR_INTERVAL,
    max_ticks: int = MAX_TICKS_PER_CALL,
    clock: Callable[[], datetime] = _now,
) -> dg.SensorDefinition:
    """A sensor committing the due ticks of every cron input of ``pipelines``; on by default,
    as a Pachyderm cron pipeline ticks from its creation. ``clock`` is for tests."""
    inputs = pipeline_cron_inputs(pipelines)

    @dg.sensor(
        name=name,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="commits cron ticks: " + ", ".join(f"{i.repo} ({i.spec})" for i in inputs),
    )
    def _cron_tick_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        store = open_store(storage, storage_options)
        now = clock()
        made = 0
        for inp in inputs:
            for commit in commit_due_ticks(store, inp, now, limit=max_ticks):
                context.log.info(f"cron tick {inp.repo}@{commit.id}: {commit.description}")
                made += 1
        return dg.SkipReason(f"{made} cron tick(s) committed" if made else "no cron tick due")

    return _cron_tick_sensor


def cron_sensors(
    pipelines: Sequence[Pipeline],
    *,
    storage: str | None = None,
    storage_options: dict[str, Any] | None = None,
) -> list[dg.SensorDefinition]:
    """``[cron_tick_sensor]`` if any pipeline has a cron input, else none."""
    if not pipeline_cron_inputs(pipelines):
        return []
    return [cron_tick_sensor(pipelines, storage=storage, storage_options=storage_options)]
