"""``python -m dagster_versioned.cli`` runs ``dvctl``."""

from dagster_versioned.cli.main import main

main()
