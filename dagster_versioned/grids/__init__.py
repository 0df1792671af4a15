"""Orchest-style parameter grids and grid jobs over Dagster (see ``docs/grids.md``).

The Dagster-free core (grids, cells, parameter files, records, snapshots) is
``dagster_versioned.gridcore``; this package holds the Dagster glue (``gridjobs``, ``steps``,
``runs``, ``ticks``, ``partitions``) and re-exports both, each imported on first use of its name.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY: dict[str, str] = {
    "Dimension": "dagster_versioned.gridcore.grid",
    "GridCell": "dagster_versioned.gridcore.grid",
    "ParameterDefaults": "dagster_versioned.gridcore.grid",
    "ParameterGrid": "dagster_versioned.gridcore.grid",
    "GridPipeline": "dagster_versioned.gridcore.pipeline",
    "GridStep": "dagster_versioned.gridcore.pipeline",
    "read_parameters_file": "dagster_versioned.gridcore.params_file",
    "write_parameters_file": "dagster_versioned.gridcore.params_file",
    "generate_parameters_file": "dagster_versioned.gridcore.params_file",
    "get_params": "dagster_versioned.gridcore.params",
    "get_pipeline_param": "dagster_versioned.gridcore.params",
    "get_step_param": "dagster_versioned.gridcore.params",
    "cell_for_partition_key": "dagster_versioned.gridcore.keys",
    "grid_partitions_def": "dagster_versioned.grids.partitions",
    "GridJobRecord": "dagster_versioned.gridcore.records",
    "GridJobStatus": "dagster_versioned.gridcore.records",
    "GridJobStore": "dagster_versioned.gridcore.records",
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
