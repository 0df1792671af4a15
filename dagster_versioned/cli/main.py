"""The ``dvctl`` entry point: load the command modules, run the root group.

A new area of the CLI (jobs, pipelines, fsck) is a module that registers its commands under
the verb groups of ``app`` (``@verb("list").command("job")``, or ``cli.add_command`` for a
top-level command such as ``fsck``) and one line in ``COMMAND_MODULES``.
"""

from __future__ import annotations

import importlib

import click

from dagster_versioned.cli.app import cli

COMMAND_MODULES: tuple[str, ...] = (
    "dagster_versioned.cli.commands_pfs",
    "dagster_versioned.cli.commands_files",
    "dagster_versioned.cli.commands_pps",
    "dagster_versioned.cli.commands_restart",
    "dagster_versioned.cli.commands_admin",
    "dagster_versioned.cli.commands_grids",
    "dagster_versioned.cli.commands_meta",
)

_loaded = False


def load_commands() -> click.Group:
    """Import every command module once (each registers itself) and return the root group."""
    global _loaded
    if not _loaded:
        for name in COMMAND_MODULES:
            importlib.import_module(name)
        from dagster_versioned.cli.completion import attach

        attach(cli)
        _loaded = True
    return cli


def main() -> None:
    """Console-script entry point (``dvctl``)."""
    load_commands()(prog_name="dvctl")


if __name__ == "__main__":
    main()
