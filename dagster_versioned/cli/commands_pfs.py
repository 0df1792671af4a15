"""Repo, branch and commit commands: ``create/list/inspect/delete repo|branch``, ``* commit``.

Each command parses its arguments, makes one or a few ``Store`` calls and formats the answer
like pachctl 2.x (``formatting`` for tables, ``raw`` for ``--raw``). File commands are in
``commands_files``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from dagster_versioned.cli import raw as rawjson
from dagster_versioned.cli.app import echo, fail, store, verb
from dagster_versioned.cli.formatting import (
    Cell,
    ago,
    bytes_size,
    print_details,
    print_table,
    progress_bar,
)

if TYPE_CHECKING:
    from dagster_versioned.store import BranchInfo, Commit, CommitSet, RepoInfo, Store

COMMIT_HEADER = ("REPO", "BRANCH", "COMMIT", "FINISHED", "SIZE", "ORIGIN", "DESCRIPTION")
COMMIT_SET_HEADER = ("ID", "SUBCOMMITS", "PROGRESS", "CREATED", "MODIFIED")
BRANCH_HEADER = ("BRANCH", "HEAD", "TRIGGER")
REPO_HEADER = ("NAME", "CREATED", "SIZE", "DESCRIPTION")

raw_option = click.option("--raw", is_flag=True, help="Disable pretty printing; print raw JSON.")


def is_commit_id(text: str) -> bool:
    from dagster_versioned.store.names import is_commit_id as check

    return check(text)


# -- repos ---------------------------------------------------------------------------------


@verb("create").command("repo", short_help="Create a new repo.")
@click.argument("repo", metavar="<repo>")
@click.option("-d", "--description", default="", help="A description of the repo.")
def create_repo(repo: str, description: str) -> None:
    """Create a new repo."""
    store().create_repo(repo, description=description)


@verb("list").command("repo", short_help="Return a list of repos.")
@raw_option
def list_repo(raw: bool) -> None:
    """Return a list of repos, newest first."""
    repos = store().list_repo()
    if raw:
        for info in repos:
            echo(rawjson.dumps(rawjson.repo_info(info)))
        return
    now = datetime.now(UTC)
    rows = [[r.name, ago(r.created, now), bytes_size(r.size_bytes), r.description] for r in repos]
    print_table(REPO_HEADER, rows)


@verb("inspect").command("repo", short_help="Return info about a repo.")
@click.argument("repo", metavar="<repo>")
@raw_option
def inspect_repo(repo: str, raw: bool) -> None:
    """Return info about a repo."""
    info = store().inspect_repo(repo)
    if raw:
        echo(rawjson.dumps(rawjson.repo_info(info)))
        return
    print_details(_repo_details(info))


def _repo_details(info: RepoInfo) -> list[tuple[str, str]]:
    lines = [("Name", info.name)]
    if info.description:
        lines.append(("Description", info.description))
    lines.append(("Created", ago(info.created)))
    lines.append(("Size of HEAD on master", bytes_size(info.size_bytes)))
    return lines


@verb("delete").command("repo", short_help="Delete a repo.")
@click.argument("repo", metavar="<repo>", required=False)
@click.option(
    "-f", "--force", "-y", is_flag=True,
    help="Remove the repo even if other repos use it; with --all, do not ask.",
)  # fmt: skip
@click.option("--all", "all_", is_flag=True, help="Remove all repos (asks first, unless -f/-y).")
def delete_repo(repo: str | None, force: bool, all_: bool) -> None:
    """Delete a repo. Objects that other repos share stay in the store."""
    if repo is not None and all_:
        fail("cannot use the --all flag with an argument")
    s = store()
    if repo is None:
        if not all_:
            fail("either a repo name or the --all flag needs to be provided")
        if not force and not _confirmed("Are you sure you want to delete all repos?"):
            fail("no repo deleted: answer 'y', or pass -f/-y to delete every repo without asking")
        for info in s.list_repo():
            s.delete_repo(info.name, force=True)  # every repo goes: provenance cannot block
        return
    s.delete_repo(repo, force=force)


def _confirmed(question: str) -> bool:
    """The user's yes, on stderr; no input at all (``< /dev/null``) is a no."""
    try:
        return click.confirm(question, err=True)
    except click.Abort:
        click.echo(err=True)
        return False


# -- branches ------------------------------------------------------------------------------


def _head_ref(branch_ref: str, head: str) -> str:
    """pachctl's ``--head``: ``staging^2`` or an id means this repo; ``repo@branch=id`` the id."""
    repo = branch_ref.partition("@")[0]
    if "@" not in head:
        return f"{repo}@{head}"
    head_repo, _, rest = head.partition("@")
    if "=" in rest:
        return f"{head_repo}@{rest.partition('=')[2]}"
    return head


@verb("create").command(
    "branch",
    short_help="Create a new branch, or update an existing branch, on a repo.",
    epilog="""\b
Examples:
  dvctl create branch foo@master
  dvctl create branch foo@master --head staging
  dvctl create branch foo@master --head staging^3
  dvctl create branch foo@master --trigger staging --trigger-size 100M
  dvctl create branch foo@master --trigger staging --trigger-cron '@every 1h'
  dvctl create branch foo@master --trigger staging --trigger-commits 10
  dvctl create branch foo@master --trigger staging --trigger-size 100M \\
        --trigger-cron '@every 1h' --trigger-commits 10 --trigger-all""",
)
@click.argument("branch", metavar="<repo>@<branch>")
@click.option(
    "--head", metavar="REF", help="The head of the branch: <branch-or-commit>[^N] or <repo>@<ref>."
)
@click.option(
    "-t",
    "--trigger",
    "trigger_branch",
    metavar="BRANCH",
    help="The branch to trigger this branch on.",
)
@click.option(
    "--trigger-size", metavar="SIZE", help="The data size to use in triggering (e.g. 1MB)."
)
@click.option("--trigger-cron", metavar="SPEC", help="The cron spec to use in triggering.")
@click.option(
    "--trigger-commits", type=int, default=0, help="The number of commits to use in triggering."
)
@click.option(
    "--trigger-all",
    is_flag=True,
    help="Only trigger when all conditions are met, rather than when any are met.",
)
def create_branch(
    branch: str,
    head: str | None,
    trigger_branch: str | None,
    trigger_size: str | None,
    trigger_cron: str | None,
    trigger_commits: int,
    trigger_all: bool,
) -> None:
    """Create a new branch, or update an existing branch, on a repo.

    A new branch without --head gets an empty AUTO head commit. Updating a branch without
    --trigger keeps its trigger; delete the branch to clear it.
    """
    from dagster_versioned.store import Trigger

    conditions = _trigger_flags(trigger_size, trigger_cron, trigger_commits, trigger_all)
    if conditions and not trigger_branch:
        fail(
            "trigger condition specified without a branch to trigger on, "
            f"specify a branch with --trigger (got {' '.join(conditions)})"
        )
    trigger = None
    if trigger_branch:
        trigger = Trigger(
            branch=trigger_branch,
            size=trigger_size or None,
            cron=trigger_cron or None,
            commits=trigger_commits or None,
            all=trigger_all,
        )
    head_ref = _head_ref(branch, head) if head else None
    store().create_branch(branch, head=head_ref, trigger=trigger)


def _trigger_flags(size: str | None, cron: str | None, commits: int, all_: bool) -> list[str]:
    """The trigger conditions given, as typed (for an error naming them); unset ones omitted."""
    flags = [f"--trigger-size {size!r}"] if size else []
    flags += [f"--trigger-cron {cron!r}"] if cron else []
    flags += [f"--trigger-commits {commits}"] if commits else []
    return flags + (["--trigger-all"] if all_ else [])


@verb("list").command("branch", short_help="Return all branches on a repo.")
@click.argument("repo", metavar="<repo>")
@raw_option
def list_branch(repo: str, raw: bool) -> None:
    """Return all branches on a repo, newest first; a branch's open commit is its head."""
    s = store()
    branches = s.list_branch(repo, open_heads=True)
    if raw:
        for info in branches:
            echo(rawjson.dumps(rawjson.branch_info(info, _head_commit(s, info))))
        return
    rows = [[b.name, b.head or "-", b.trigger.describe() if b.trigger else "-"] for b in branches]
    print_table(BRANCH_HEADER, rows)


def _head_commit(s: Store, info: BranchInfo) -> Commit | None:
    return s.inspect_commit(f"{info.repo}@{info.head}") if info.head else None


@verb("inspect").command("branch", short_help="Return info about a branch.")
@click.argument("branch", metavar="<repo>@<branch>")
@raw_option
def inspect_branch(branch: str, raw: bool) -> None:
    """Return info about a branch: its head (its open commit, if it has one) and trigger."""
    s = store()
    info = s.inspect_branch(branch, open_head=True)
    if raw:
        echo(rawjson.dumps(rawjson.branch_info(info, _head_commit(s, info))))
        return
    lines = [("Name", f"{info.repo}@{info.name}")]
    if info.head:
        lines.append(("Head Commit", f"{info.repo}@{info.head}"))
    if info.trigger:
        lines.append(("Trigger", info.trigger.describe()))
    print_details(lines)


@verb("delete").command("branch", short_help="Delete a branch.")
@click.argument("branch", metavar="<repo>@<branch>")
@click.option("-f", "--force", is_flag=True, help="Accepted for pachctl compatibility.")
def delete_branch(branch: str, force: bool) -> None:
    """Delete a branch, while leaving the commits intact (and clearing its trigger)."""
    store().delete_branch(branch)


# -- commits -------------------------------------------------------------------------------


def _description_options(f: click.decorators.FC) -> click.decorators.FC:
    f = click.option("--description", "description", default=None, help="Synonym for --message.")(f)
    return click.option(
        "-m", "-d", "--message", "description", default=None,
        help="A description of this commit's contents.",
    )(f)  # fmt: skip


@verb("start").command(
    "commit",
    short_help="Start a new commit.",
    epilog="""\b
Examples:
  # Start a commit in repo "test" on branch "master"
  dvctl start commit test@master""",
)
@click.argument("branch", metavar="<repo>@<branch>")
@_description_options
def start_commit(branch: str, description: str | None) -> None:
    """Start a new commit on the given branch and print its ID; the branch is created if needed.

    Writes to the branch (put, copy and delete file) go into the open commit until
    'finish commit'.
    """
    commit = store().start_commit(branch, description=description or "")
    echo(commit.id)


@verb("finish").command("commit", short_help="Finish a started commit.")
@click.argument("commit", metavar="<repo>@<branch-or-commit>")
@_description_options
def finish_commit(commit: str, description: str | None) -> None:
    """Finish a started commit, named by its branch or its ID."""
    store().finish_commit(commit, description=description)


@verb("inspect").command("commit", short_help="Return info about a commit.")
@click.argument("commit", metavar="<repo>@<branch-or-commit>")
@raw_option
def inspect_commit(commit: str, raw: bool) -> None:
    """Return info about a commit; a branch names its open commit, if it has one."""
    if "@" not in commit and is_commit_id(commit):
        fail('Use "list commit <id>" to see commits with a given ID across different repos')
    _print_commit(store().inspect_commit(commit, open_head=True), raw)


def _print_commit(c: Commit, raw: bool) -> None:
    if raw:
        echo(rawjson.dumps(rawjson.commit_info(c)))
        return
    lines = [("Commit", f"{c.repo}@{c.id}"), ("Original Branch", c.branch)]
    if c.description:
        lines.append(("Description", c.description))
    if c.parent:
        lines.append(("Parent", c.parent))
    lines.append(("Started", ago(c.started)))
    if c.finished:
        lines.append(("Finished", ago(c.finished)))
        lines.append(("Size", bytes_size(c.size_bytes)))
    if c.provenance:
        lines.append(("Provenance", " ".join(str(p) for p in c.provenance)))
    if c.error:
        lines.append(("Error", c.error))
    print_details(lines)


@verb("wait").command("commit", short_help="Wait for the specified commit to finish and return it.")
@click.argument("commit", metavar="<repo>@<branch-or-commit>")
@click.option("--timeout", type=float, default=None, help="Give up after this many seconds.")
@raw_option
def wait_commit(commit: str, timeout: float | None, raw: bool) -> None:
    """Wait for the specified commit to finish and return it.

    A branch names its open commit, if it has one: this waits until that commit is finished.
    """
    _print_commit(store().wait_commit(commit, timeout=timeout, open_head=True), raw)


@verb("delete").command("commit", short_help="Delete (abandon) an unfinished commit.")
@click.argument("commit", metavar="<repo>@<branch-or-commit>")
def delete_commit(commit: str) -> None:
    """Delete an unfinished commit: its writes are dropped and the branch stays as it was.

    Finished commits are immutable and cannot be deleted.
    """
    store().delete_commit(commit)


@verb("list").command(
    "commit",
    short_help="Return a list of commits.",
    epilog="""\b
Examples:
  # return all commit sets (global IDs)
  dvctl list commit
  # return commits in repo "foo"
  dvctl list commit foo
  # return all sub-commits of a global ID, across repos
  dvctl list commit <commit-id>
  # return commits in repo "foo" on branch "master"
  dvctl list commit foo@master
  # return the last 20 commits in repo "foo" on branch "master"
  dvctl list commit foo@master -n 20""",
)
@click.argument("target", metavar="[<commit-id>|<repo>[@<branch-or-commit>]]", required=False)
@click.option("-n", "--number", type=click.IntRange(min=0), default=0,
              help="List only this many commits; if set to zero, list all commits.")  # fmt: skip
@raw_option
def list_commit(target: str | None, number: int, raw: bool) -> None:
    """Return a list of commits, across the store or restricted to a repo or branch."""
    s = store()
    if target is None:
        _print_commit_sets(s.list_commit_sets(number=number or None), raw)
        return
    if is_commit_id(target):
        commits = s.list_commit_set(target)
        commits = commits[:number] if number else commits
    else:
        commits = s.list_commit(target, number=number or None, open_head=True)
    if raw:
        for c in commits:
            echo(rawjson.dumps(rawjson.commit_info(c)))
        return
    now = datetime.now(UTC)
    print_table(COMMIT_HEADER, [_commit_row(c, now) for c in commits])


def _commit_row(c: Commit, now: datetime) -> list[Cell]:
    finished = ago(c.finished, now) if c.finished else "-"
    size = bytes_size(c.size_bytes) if c.finished else "-"
    return [c.repo, c.branch, c.id, finished, size, c.origin.value, c.description]


def _print_commit_sets(sets: list[CommitSet], raw: bool) -> None:
    if raw:
        for cs in sets:
            echo(rawjson.dumps(rawjson.commit_set_info(cs.id, list(cs.commits))))
        return
    now = datetime.now(UTC)
    rows: list[list[Cell]] = []
    for cs in sets:
        done = [c for c in cs.commits if c.finished]
        failed = sum(1 for c in done if c.error)
        bar = progress_bar(8, len(done) - failed, len(cs.commits) - len(done), failed)
        started = [c.started for c in cs.commits]
        rows.append(
            [cs.id, str(len(cs.commits)), bar, ago(min(started), now), ago(max(started), now)]
        )
    print_table(COMMIT_SET_HEADER, rows)
