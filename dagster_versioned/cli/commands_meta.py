"""``dvctl config`` (alias ``store``), ``dvctl version`` and ``dvctl completion``: about dvctl
itself rather than the data."""

from __future__ import annotations

import click

from dagster_versioned.cli.app import CONTEXT_SETTINGS, cli, echo, fail, session
from dagster_versioned.cli.formatting import print_details

HOW_CHOSEN = {
    "flag": "the --storage option",
    "environment": "$DAGSTER_VERSIONED_STORAGE",
    "nearest": "the nearest .dagster_versioned/ (this directory or a parent)",
    "new": "none found: a new .dagster_versioned/ here, made by the first writing command",
}
SHELLS = ("bash", "zsh", "fish")


def _config() -> None:
    """Print the store in use and how it was chosen; never creates it."""
    from dagster_versioned.errors import StoreNotFound
    from dagster_versioned.store.credentials import redact_url

    url, source = session().location
    try:
        session().open(create=False)
        exists = "yes"
    except StoreNotFound:
        exists = "no (a writing command like `dvctl create repo` creates it)"
    print_details(
        [("Storage", redact_url(url)), ("Chosen by", HOW_CHOSEN[source]), ("Exists", exists)]
    )


for _name in ("config", "store"):
    cli.command(
        _name,
        context_settings=CONTEXT_SETTINGS,
        short_help="Show the store in use and how it was chosen.",
        help="Show the store in use and how it was chosen (--storage, $DAGSTER_VERSIONED_STORAGE,"
        " the nearest .dagster_versioned/, or a new one). Never creates a store.",
    )(_config)


@cli.command("version", context_settings=CONTEXT_SETTINGS, short_help="Print the dvctl version.")
def version_command() -> None:
    """Print dvctl's version (the dagster-versioned package's)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("dagster-versioned")
    except PackageNotFoundError:
        found = "unknown (not installed as a package)"
    echo(f"dvctl {found}")


@cli.command(
    "completion",
    context_settings=CONTEXT_SETTINGS,
    short_help="Print a shell completion script.",
    epilog="""\b
Examples:
  # bash: add to ~/.bashrc
  eval "$(dvctl completion bash)"
  # zsh: add to ~/.zshrc
  eval "$(dvctl completion zsh)"
  # fish
  dvctl completion fish > ~/.config/fish/completions/dvctl.fish""",
)
@click.argument("shell", metavar="bash|zsh|fish")
def completion_command(shell: str) -> None:
    """Print a completion script: commands, flags, and repo, branch, pipeline and job names
    from the store in use."""
    from click.shell_completion import get_completion_class

    kind = get_completion_class(shell) if shell in SHELLS else None
    if kind is None:
        fail(f"invalid shell '{shell}': use one of {', '.join(SHELLS)}")
    ctx = click.get_current_context().find_root()
    echo(kind(ctx.command, {}, "dvctl", "_DVCTL_COMPLETE").source())
