"""The Pachyderm engine: specs, inputs, datums, plans, job records and the runner.

Nothing here imports Dagster (a test imports the package with Dagster blocked): the Dagster glue
in ``dagster_versioned.pipelines`` translates a run's context into calls on this engine, the way
dagster-duckdb's resource hands work to a DuckDB connection.
"""
