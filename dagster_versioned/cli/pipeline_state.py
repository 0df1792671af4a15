"""A pipeline's state as the Dagster instance knows it, or ``-`` when nothing can tell.

The store records pipelines and jobs, not whether anything will process the next commit:
that is the pipeline's branch sensors in Dagster. So the state comes from the instance in
``$DAGSTER_HOME`` (its stored sensor states): ``running`` when a sensor of one of the
pipeline's inputs runs, ``paused`` when they are all stopped, and ``-`` otherwise (no
``DAGSTER_HOME``, no record of the sensors, or an instance that cannot be read) — never a
guess. Dagster is imported only when ``DAGSTER_HOME`` names a directory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

UNKNOWN = "-"


def input_branches(spec: Any) -> Iterator[tuple[str, str]]:
    """``(repo, branch)`` of every pfs input in a recorded input spec."""
    if not isinstance(spec, dict):
        return
    if "pfs" in spec:
        pfs = spec["pfs"]
        yield pfs["repo"], pfs.get("branch") or "master"
        return
    for children in spec.values():
        for child in children if isinstance(children, list) else []:
            yield from input_branches(child)


def sensor_states() -> dict[str, str] | None:
    """Sensor name → ``running``/``paused`` from ``$DAGSTER_HOME``'s instance, or ``None``."""
    home = os.environ.get("DAGSTER_HOME", "")
    if not home or not os.path.isdir(home):
        return None
    try:
        from dagster import DagsterInstance
        from dagster._core.scheduler.instigation import InstigatorStatus, InstigatorType

        with DagsterInstance.get() as instance:
            states = instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
    except Exception:  # an unreadable instance is "don't know", not an error of this command
        return None
    running = {InstigatorStatus.RUNNING, InstigatorStatus.DECLARED_IN_CODE}
    return {s.instigator_name: "running" if s.status in running else "paused" for s in states}


def pipeline_state(record: dict[str, Any], sensors: dict[str, str] | None) -> str:
    """``running``, ``paused`` or ``-`` for one pipeline record (see the module docstring)."""
    if not sensors:
        return UNKNOWN
    from dagster_versioned.io.naming import branch_sensor_name

    found = [
        sensors[name]
        for repo, branch in input_branches(record.get("input"))
        if (name := branch_sensor_name(repo, branch)) in sensors
    ]
    if not found:
        return UNKNOWN
    return "running" if "running" in found else "paused"
