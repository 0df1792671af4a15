"""Run tags of grid-job runs: which job, batch, cell and snapshot a Dagster run belongs to.

Every run of a batch carries all of them; status, retention and cancellation find a job's runs
by ``dagster_versioned/grid_job`` (the job id). No Dagster import: ``dvctl`` shows these too.
"""

from __future__ import annotations

GLOBAL_ID_TAG = "dagster_versioned/global_id"
"""Same tag as ``dagster_versioned.io.tags.GLOBAL_ID_TAG``: one id per batch, shared by its runs."""
GRID_JOB_TAG = "dagster_versioned/grid_job"
"""The grid job's id (32 hex digits)."""
GRID_JOB_NAME_TAG = "dagster_versioned/grid_job_name"
BATCH_TAG = "dagster_versioned/batch"
"""The batch (job run) index, from 0: Orchest's ``job_run_index``."""
CELL_TAG = "dagster_versioned/cell"
"""The cell's index in the grid's full product: Orchest's ``job_run_pipeline_run_index``."""
RUN_INDEX_TAG = "dagster_versioned/run_index"
"""A counter over all runs of the job: Orchest's ``pipeline_run_index`` (retention uses it)."""
SNAPSHOT_TAG = "dagster_versioned/snapshot"
"""The snapshot commit id the run executes."""
TRIGGER_TAG = "dagster_versioned/trigger"
"""``once``, ``cron`` or ``manual``."""


def run_key(job_id: str, batch: int, cell: int) -> str:
    """The sensor's run key of one cell's run in one batch: unique per job, batch and cell."""
    return f"{job_id}:{batch}:{cell}"
