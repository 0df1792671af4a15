"""Dagster code location for `dagster dev -f definitions.py`."""

import dagster as dg

# The example pipelines from examples/ will be loaded here; for now the location is empty.
defs = dg.Definitions(assets=[])
