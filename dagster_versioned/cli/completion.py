"""Tab completion of store names: repos, ``repo@branch``, pipelines and recent job ids.

Completers are attached by an argument's metavar (``<repo>``, ``<repo>@<branch>``,
``<pipeline>@<job>``, …) when the commands are loaded, so every command module gets them
without naming them. They read the store the command line names and never create one: a
location with no store, or any error, completes nothing rather than breaking the shell.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import click
from click.shell_completion import CompletionItem

if TYPE_CHECKING:
    from dagster_versioned.store import Store

RECENT_JOBS = 20
"""Job ids offered: the newest this many (older ones are typed, like commit ids)."""

Completer = Callable[[click.Context, click.Parameter, str], list[CompletionItem]]


def _store(ctx: click.Context) -> Store | None:
    from dagster_versioned.cli.app import Session

    root = ctx.find_root()
    try:
        return Session(root.params.get("storage")).open(create=False)
    except Exception:  # completion must never fail the shell
        return None


def _items(values: list[str], incomplete: str) -> list[CompletionItem]:
    return [CompletionItem(v) for v in values if v.startswith(incomplete)]


def complete_repo(ctx: click.Context, _p: click.Parameter, incomplete: str) -> list[CompletionItem]:
    store = _store(ctx)
    if store is None:
        return []
    return _items([r.name for r in store.list_repo()], incomplete)


def complete_branch(
    ctx: click.Context, _p: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """``repo@`` for each repo until an ``@`` is typed, then ``repo@<branch>``."""
    store = _store(ctx)
    if store is None:
        return []
    if "@" not in incomplete:
        return [
            CompletionItem(f"{r.name}@", type="plain")
            for r in store.list_repo()
            if r.name.startswith(incomplete)
        ]
    repo = incomplete.partition("@")[0]
    try:
        branches = [f"{repo}@{b.name}" for b in store.list_branch(repo)]
    except Exception:
        return []
    return _items(branches, incomplete)


def _pipelines(store: Store) -> list[str]:
    from dagster_versioned.pps.jobs import JobStore

    jobs = JobStore(store)
    return sorted({r["name"] for r in jobs.list_pipelines()} | set(jobs.pipelines_with_jobs()))


def complete_pipeline(
    ctx: click.Context, _p: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    store = _store(ctx)
    return [] if store is None else _items(_pipelines(store), incomplete)


def complete_job(ctx: click.Context, _p: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """``pipeline@`` until an ``@`` is typed, then that pipeline's recent ``pipeline@id``."""
    store = _store(ctx)
    if store is None:
        return []
    if "@" not in incomplete:
        return [CompletionItem(f"{p}@") for p in _pipelines(store) if p.startswith(incomplete)]
    from dagster_versioned.pps.jobs import JobStore

    pipeline = incomplete.partition("@")[0]
    jobs = JobStore(store).list_jobs(pipeline)[:RECENT_JOBS]
    return _items([f"{j.pipeline}@{j.id}" for j in jobs], incomplete)


def complete_job_id(
    ctx: click.Context, _p: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    store = _store(ctx)
    if store is None:
        return []
    from dagster_versioned.pps.jobs import JobStore

    ids = list(dict.fromkeys(str(j.id) for j in JobStore(store).list_jobs()))[:RECENT_JOBS]
    return _items(ids, incomplete)


BY_METAVAR: dict[str, Completer] = {
    "<repo>": complete_repo,
    "<pipeline>": complete_pipeline,
    "[<job-id>]": complete_job_id,
    "<pipeline>@<job>": complete_job,
    "<pipeline>@<job>|<job>": complete_job,
}
"""Exact metavars; any other metavar naming ``<repo>`` or ``…repo>@<…`` completes
``repo@branch``."""

BY_OPTION: dict[str, Completer] = {"pipeline": complete_pipeline}


def completer_for(param: click.Parameter) -> Completer | None:
    metavar = param.metavar or ""
    if isinstance(param, click.Option):
        return BY_OPTION.get(param.name or "")
    if metavar in BY_METAVAR:
        return BY_METAVAR[metavar]
    if "<repo>" in metavar or "repo>@<" in metavar:
        return complete_branch
    return None


def attach(group: click.Group) -> None:
    """Give every argument (and ``--pipeline`` option) below ``group`` its store completer."""
    for command in group.commands.values():
        if isinstance(command, click.Group):
            attach(command)
            continue
        for param in command.params:
            found = completer_for(param)
            if found is not None and param._custom_shell_complete is None:
                param._custom_shell_complete = found
