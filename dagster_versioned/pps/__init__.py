"""The Pachyderm engine: specs, inputs, datums, plans, job records and the runner.

Nothing here imports Dagster (a test imports the package with Dagster blocked): the Dagster glue
in ``dagster_versioned.pipelines`` translates a run's context into calls on this engine, the way
dagster-duckdb's resource hands work to a DuckDB connection.

Importing the package registers the job-record check with the store's ``fsck`` (``fsck.py``),
so whoever imports any part of the engine has its records verified too.
"""

from dagster_versioned.pps import fsck as fsck
