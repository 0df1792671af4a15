"""The ``dvctl`` root command, its verb groups, the storage session and error reporting.

Commands are registered by noun under pachctl's verbs (``create repo``, ``list commit``, …):
a ``commands_*`` module decorates its functions with ``@verb("list").command("job")`` (and
calls ``add_verb`` for a verb not in ``VERBS``), so a new area of the CLI is one new module
listed in ``main.COMMAND_MODULES``; nothing here changes.

Every user error (any ``VersionedError``, or a ``UserError`` raised by a command) becomes one
``error: …`` line on stderr and exit status 1; click's usage errors keep exit status 2.

``$NO_COLOR`` (https://no-color.org: set to any non-empty value) turns every styling off: the
root context has ``color=False`` (click strips ANSI from what it echoes) and ``rich_console``,
the one place the CLI's rich consoles are made, renders with no colour system — no colour,
bold, dim or underline; a progress bar still moves the cursor, which is not styling.
"""

from __future__ import annotations

import os
import sys
from typing import IO, TYPE_CHECKING, Any, Literal, NoReturn

import click
from click.core import ParameterSource

from dagster_versioned.errors import VersionedError

if TYPE_CHECKING:
    from rich.console import Console

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


OPENING_VERBS: frozenset[str] = frozenset(
    {"list", "inspect", "get", "glob", "diff", "wait", "fsck", "gc", "delete", "stop", "finish"}
    | {"restart"}
    | {"grid", "config", "store"}
)
"""Top-level commands that open an existing store and never create one: they only read, or
act on something that must already exist, so a mistyped --storage is an error naming it, not
an empty store. Every other command (``create``, ``put``, ``start``, ``copy``) creates it."""

StorageSource = Literal["flag", "environment", "nearest", "new"]


class Session:
    """What every command needs: the storage URL, how it was chosen and, opened on first use,
    the ``Store``."""

    def __init__(self, storage: str | None, source: StorageSource = "flag") -> None:
        self._storage = storage
        self._source: StorageSource = source
        self._store: Store | None = None

    @property
    def location(self) -> tuple[str, StorageSource]:
        """The storage URL and which rule chose it (``--storage``, environment, nearest, new)."""
        if self._storage:
            return self._storage, self._source
        from dagster_versioned.store.location import default_location

        found = default_location()
        return found.url, found.source

    @property
    def storage_url(self) -> str:
        return self.location[0]

    def open(self, *, create: bool) -> Store:
        """The store, opened once; ``create=False`` refuses a location with no store."""
        if self._store is None:
            from dagster_versioned.store import Store

            url = self.storage_url
            try:
                self._store = Store.open(url, create=create)
            except VersionedError:
                raise
            except (OSError, ValueError, ImportError) as e:
                # a missing bucket, an unknown protocol, a protocol whose package is missing
                from dagster_versioned.store.credentials import redact_url

                raise UserError(f"cannot open storage {redact_url(url)}: {e}") from e
        return self._store

    @property
    def store(self) -> Store:
        """The store, created if missing only when the running command may create it."""
        return self.open(create=command_creates_store())


def command_creates_store() -> bool:
    """Whether the running command may create a missing store (see ``OPENING_VERBS``)."""
    ctx = click.get_current_context(silent=True)
    while ctx is not None and ctx.parent is not None and ctx.parent.parent is not None:
        ctx = ctx.parent
    if ctx is None or ctx.parent is None:
        return True  # a command invoked outside the root group (tests)
    return ctx.info_name not in OPENING_VERBS


class HintingGroup(click.Group):
    """A group that answers a pachctl command we do not have with what to use instead."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else None
        if name and not ctx.resilient_parsing and self.get_command(ctx, name) is None:
            from dagster_versioned.cli.pachctl_hints import hint_for

            words = name if ctx.parent is None else f"{ctx.info_name} {name}"
            hint = hint_for(words)
            if hint is None and ctx.parent is None and len(args) > 1:  # ``update pipeline``
                words = f"{name} {args[1]}"
                hint = hint_for(words)
            if hint is not None:
                raise UserError(f"dvctl has no '{words}': {hint}")
        return super().resolve_command(ctx, args)


def styling_allowed() -> bool:
    """False when ``$NO_COLOR`` is set to a non-empty value: then nothing dvctl prints is styled.

    rich alone honours NO_COLOR only for colours and still prints bold, so this is checked
    here and applied to click and rich alike."""
    return os.environ.get("NO_COLOR", "") == ""


def rich_console(file: IO[str], **options: Any) -> Console:
    """A rich ``Console`` on ``file`` that prints no styling at all under ``$NO_COLOR``."""
    from rich.console import Console

    if not styling_allowed():
        options["color_system"] = None
    return Console(file=file, **options)


class RootGroup(HintingGroup):
    """The ``dvctl`` group: lists verbs in pachctl's order and turns store errors into exit 1."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        if not styling_allowed():  # click.echo strips ANSI in every subcommand's context too
            extra["color"] = False
        return super().make_context(info_name, args, parent, **extra)

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
    given = ctx.get_parameter_source("storage")
    source: StorageSource = "environment" if given is ParameterSource.ENVIRONMENT else "flag"
    ctx.obj = Session(storage, source)


def add_verb(name: str, help_text: str) -> click.Group:
    """Add a verb group (idempotent): for a verb a new command module needs, like ``run``."""
    existing = cli.commands.get(name)
    if isinstance(existing, click.Group):
        return existing
    group = HintingGroup(
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
