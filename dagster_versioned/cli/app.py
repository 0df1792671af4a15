"""The ``dvctl`` root command, its verb groups, the storage session and error reporting.

Commands are registered by noun under pachctl's verbs (``create repo``, ``list commit``, …):
a ``commands_*`` module decorates its functions with ``@verb("list").command("job")`` (and
calls ``add_verb`` for a verb not in ``VERBS``), so a new area of the CLI is one new module
listed in ``main.COMMAND_MODULES``; nothing here changes.

Every user error (any ``VersionedError``, or a ``UserError`` raised by a command) becomes one
``error: …`` line on stderr and exit status 1; click's usage errors keep exit status 2.
"""

from __future__ import annotations

import sys
from typing import IO, TYPE_CHECKING, Any, NoReturn

import click

from dagster_versioned.errors import VersionedError

if TYPE_CHECKING:
    from dagster_versioned.store import Store

CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

# Verb groups in the order pachctl's help lists them, with pachctl's one-line descriptions.
VERBS: dict[str, str] = {
    "create": "Create a new instance of a Pachyderm-style resource.",
    "list": "Print a list of resources of a specific type.",
    "inspect": "Show detailed information about a resource.",
    "delete": "Delete an existing resource.",
    "start": "Start a resource (a commit).",
    "finish": "Finish a resource (a commit).",
    "wait": "Wait for a resource (a commit) to finish.",
    "put": "Insert data into a repo.",
    "get": "Get the raw data represented by a resource.",
    "copy": "Copy a resource (files, by reference).",
    "glob": "Print a list of resources matching a glob pattern.",
    "diff": "Show the differences between two resources.",
    "stop": "Cancel an ongoing task (a job).",
}


class UserError(click.ClickException):
    """A mistake in the user's input found by the CLI itself: exit 1, one ``error:`` line."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.format_message()}", file=file, err=file is None)


def fail(message: str) -> NoReturn:
    raise UserError(message)


class Session:
    """What every command needs: the storage URL and, opened on first use, the ``Store``."""

    def __init__(self, storage: str | None) -> None:
        self._storage = storage
        self._store: Store | None = None

    @property
    def storage_url(self) -> str:
        if self._storage:
            return self._storage
        from dagster_versioned.store.location import default_storage_url

        return default_storage_url()

    @property
    def store(self) -> Store:
        if self._store is None:
            from dagster_versioned.store import Store

            url = self.storage_url
            try:
                self._store = Store.open(url)
            except VersionedError:
                raise
            except (OSError, ValueError, ImportError) as e:
                # a missing bucket, an unknown protocol, a protocol whose package is missing
                from dagster_versioned.store.credentials import redact_url

                raise UserError(f"cannot open storage {redact_url(url)}: {e}") from e
        return self._store


class RootGroup(click.Group):
    """The ``dvctl`` group: lists verbs in pachctl's order and turns store errors into exit 1."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        order = list(VERBS)
        rest = sorted(name for name in self.commands if name not in VERBS)
        return [name for name in order if name in self.commands] + rest

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except VersionedError as e:
            raise UserError(str(e)) from e
        except OSError as e:
            # Environmental (a file, a permission, the network), never a bug of ours: one line.
            if isinstance(e, BrokenPipeError):
                raise
            raise UserError(str(e) or type(e).__name__) from e


@click.group(
    cls=RootGroup,
    context_settings=CONTEXT_SETTINGS,
    epilog="""\b
Storage is chosen by --storage, else $DAGSTER_VERSIONED_STORAGE, else the
nearest .dagster_versioned/ directory in the working directory or its parents,
else a new .dagster_versioned/ in the working directory. s3:// URLs take
credentials and endpoint from the environment like the AWS CLI
(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, ...).

\b
Refs: repo@branch, repo@<commit id>, repo@branch^N (N-th ancestor),
repo@branch.N (N-th commit of the branch), and a path after ':'.""",
)
@click.option(
    "--storage",
    metavar="URL",
    envvar="DAGSTER_VERSIONED_STORAGE",
    help="Where the store lives: a path, s3://bucket/prefix, memory://name, any fsspec URL.",
)
@click.version_option(package_name="dagster-versioned", prog_name="dvctl")
@click.pass_context
def cli(ctx: click.Context, storage: str | None) -> None:
    """Pachyderm-style data versioning (repos, branches, commits, files) over any storage."""
    ctx.obj = Session(storage)


def add_verb(name: str, help_text: str) -> click.Group:
    """Add a verb group (idempotent): for a verb a new command module needs, like ``run``."""
    existing = cli.commands.get(name)
    if isinstance(existing, click.Group):
        return existing
    group = click.Group(
        name, help=help_text, short_help=help_text, context_settings=CONTEXT_SETTINGS
    )
    cli.add_command(group)
    return group


for _name, _help in VERBS.items():
    add_verb(_name, _help)


def verb(name: str) -> click.Group:
    """The group of one verb (``create``, ``list``, …), to register a noun command under."""
    group = cli.commands.get(name)
    if not isinstance(group, click.Group):
        raise KeyError(f"no verb group {name!r}; add it to VERBS in dagster_versioned.cli.app")
    return group


def session() -> Session:
    """The current command's session (storage and store)."""
    obj = click.get_current_context().find_object(Session)
    if obj is None:  # a command invoked outside the root group (tests)
        obj = Session(None)
    return obj


def store() -> Store:
    return session().store


def echo(text: str = "") -> None:
    click.echo(text)


def stdout_is_terminal() -> bool:
    return bool(sys.stdout.isatty()) if hasattr(sys.stdout, "isatty") else False
