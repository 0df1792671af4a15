"""A job run in a process of its own, to be killed with SIGKILL mid-job (spawned by
test_restart_recovery.py and test_leases.py).

In a module of its own, free of Dagster, so a spawned process imports it by name and fast.
Every datum appends its file name to ``$DV_TEST_LOG`` when it starts (so a test counts how
often each ran); a datum started after the first ``$DV_TEST_BLOCK_AFTER`` waits until
``$DV_TEST_GATE`` exists (datums run in datum-id order, not by name, hence a count).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from dagster_versioned.pps.inputs import pfs
from dagster_versioned.pps.leases import hold_lease
from dagster_versioned.pps.runner import run_job
from dagster_versioned.pps.spec import PipelineSpec
from dagster_versioned.pps.transform import Datum
from dagster_versioned.store import Store


def gated_copy(datum: Datum) -> None:
    """Copy each file upper-cased; past the first ``$DV_TEST_BLOCK_AFTER`` datums, wait at the
    gate first."""
    log = Path(os.environ["DV_TEST_LOG"])
    for src in datum.files():
        with log.open("a") as f:
            f.write(f"{src.name}\n")
        gate = Path(os.environ["DV_TEST_GATE"])
        if len(log.read_text().split()) > int(os.environ["DV_TEST_BLOCK_AFTER"]):
            while not gate.exists():
                time.sleep(0.02)
        (datum.out / src.name).write_bytes(src.read_bytes().upper())


GATED = PipelineSpec(name="gated", input=pfs("images", "/*"), fn=gated_copy)


def run_gated(url: str, job_id: str, env: dict[str, str]) -> None:
    """Run job ``gated@<job_id>`` on the store at ``url`` (to be killed before it ends)."""
    os.environ.update(env)
    run_job(Store.open(url), GATED, job_id)


def hold_a_lease(url: str, job_id: str, ready: str) -> None:
    """Hold a lease on ``gated@<job_id>`` and sleep until killed; touch ``ready`` once held."""
    with hold_lease(Store.open(url).records, "gated", job_id, restart=0, run_id="r1", step="x"):
        Path(ready).touch()
        time.sleep(600)
