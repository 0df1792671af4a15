"""Grid cells as Dagster partitions: one partition per selected cell, keyed by ``gridcore.keys``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dagster_versioned.gridcore.keys import multi_dimensions

if TYPE_CHECKING:
    import dagster as dg

    from dagster_versioned.gridcore.grid import ParameterGrid


def grid_partitions_def(grid: ParameterGrid, *, multi: bool = True) -> dg.PartitionsDefinition:
    """A partitions definition with one partition per selected cell.

    Two dimensions with readable values give a ``MultiPartitionsDefinition`` (the UI then draws
    the grid as a matrix; deselected cells are simply never run); anything else gives a
    ``StaticPartitionsDefinition`` over the selected cells' keys. Use ``cell_for_partition_key``
    to get the cell back inside a run.

    Example::

        grid = ParameterGrid(pipeline={"lr": [0.1, 0.01]}, steps={"train": {"depth": [3, 5]}})

        @dg.asset(partitions_def=grid_partitions_def(grid))
        def model(context: dg.AssetExecutionContext) -> None:
            cell = cell_for_partition_key(grid, context.partition_key)
    """
    import dagster as dg

    dims = multi_dimensions(grid) if multi else None
    if dims is not None:
        return dg.MultiPartitionsDefinition(
            {label: dg.StaticPartitionsDefinition(values) for label, values in dims.items()}
        )
    return dg.StaticPartitionsDefinition([c.key for c in grid.require_cells()])
