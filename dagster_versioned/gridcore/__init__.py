"""The grid core: parameter grids, cells and their keys, parameter files, grid-job records,
lifecycle and snapshots.

Nothing here imports Dagster (step scripts and ``dvctl`` import it, and a test imports the
package with Dagster blocked); ``dagster_versioned.grids`` builds Dagster jobs, partitions,
schedules and runs over it.
"""
