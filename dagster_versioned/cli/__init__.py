"""``dvctl``: a pachctl-compatible command line over the versioned store.

The package is a thin layer, parse → ``Store`` → format, and it must start fast: nothing here
imports Dagster or pandas, and ``rich`` is imported only when stdout is a terminal. Commands
live in ``commands_*`` modules that attach themselves to the verb groups of ``app`` (see
``main.COMMAND_MODULES``).
"""
