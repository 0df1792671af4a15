"""Pachyderm pipelines as Dagster assets, sensors and definitions.

The glue only: it reads a run's context and calls the Dagster-free engine in
``dagster_versioned.pps``. Imported only when used.
"""
