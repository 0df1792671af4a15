"""Pipelines and run bodies for the pipeline tests that start other processes (spawn).

They live in a module of their own so a spawned process can import them by name.
"""

from __future__ import annotations

import os
import time

import dagster as dg

from dagster_versioned import Datum, pfs, pipeline, versioned_definitions

SLOW_JOB_ENV = "DV_TEST_SLOW_JOB"
"""The global id whose datums sleep (only the earliest job is slow, so a later job that did
not wait for it would finish first)."""


@pipeline(input=pfs("images", glob="/*"))
def tally(datum: Datum) -> None:
    """Copies each file; the datums of the job named by ``DV_TEST_SLOW_JOB`` take 3 s."""
    if datum.job_id == os.environ.get(SLOW_JOB_ENV):
        time.sleep(3)
    for src in datum.files():
        (datum.out / src.name).write_bytes(src.read_bytes())


def execute_run(storage: str, dagster_home: str, tags: dict[str, str], slow_job: str) -> bool:
    """Execute one run of ``tally`` with ``tags`` on the instance at ``dagster_home``."""
    os.environ[SLOW_JOB_ENV] = slow_job
    defs = versioned_definitions([tally], storage=storage)
    with dg.DagsterInstance.from_config(dagster_home) as instance:
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, tags=tags, asset_selection=[dg.AssetKey("tally")]
        )
    return result.success
