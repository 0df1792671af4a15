"""Orchest-style parameter grids and grid jobs over Dagster (see ``docs/grids.md``).

``grid``, ``params_file``, ``params``, ``records`` and ``snapshot`` need no Dagster (step
scripts and ``dvctl`` import them); ``gridjobs``, ``steps`` and ``runs`` do, and are imported on
first use of their names.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY: dict[str, str] = {
    "Dimension": "dagster_versioned.grids.grid",
    "GridCell": "dagster_versioned.grids.grid",
    "ParameterDefaults": "dagster_versioned.grids.grid",
    "ParameterGrid": "dagster_versioned.grids.grid",
    "GridPipeline": "dagster_versioned.grids.pipeline",
    "GridStep": "dagster_versioned.grids.pipeline",
    "read_parameters_file": "dagster_versioned.grids.params_file",
    "write_parameters_file": "dagster_versioned.grids.params_file",
    "generate_parameters_file": "dagster_versioned.grids.params_file",
    "get_params": "dagster_versioned.grids.params",
    "get_pipeline_param": "dagster_versioned.grids.params",
    "get_step_param": "dagster_versioned.grids.params",
    "cell_for_partition_key": "dagster_versioned.grids.partitions",
    "grid_partitions_def": "dagster_versioned.grids.partitions",
    "GridJobRecord": "dagster_versioned.grids.records",
    "GridJobStatus": "dagster_versioned.grids.records",
    "GridJobStore": "dagster_versioned.grids.records",
    "GridJob": "dagster_versioned.grids.gridjobs",
    "grid_job": "dagster_versioned.grids.gridjobs",
    "grid_job_definitions": "dagster_versioned.grids.gridjobs",
    "load_grid_jobs": "dagster_versioned.grids.gridjobs",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dagster_versioned.grids' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
