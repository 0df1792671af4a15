"""Pachyderm pipelines on Dagster: inputs, datums, jobs and the runner (no Dagster import),
and ``assets``/``definitions`` (the Dagster glue, imported only when used)."""
