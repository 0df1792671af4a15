"""File commands: ``put/get/list/glob/diff/copy/delete/inspect file``.

Reads pin the ref to one commit id first (``repo@master`` → ``repo@<id>``), so a command that
reads many files (``get file -r``, ``list file --raw``) sees one consistent commit even while
others write to the branch. Writes go into the branch's open commit if it has one, else make
one commit per command (all sources of one ``put file`` land together).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from dagster_versioned.cli import raw as rawjson
from dagster_versioned.cli.app import echo, fail, store, verb
from dagster_versioned.cli.formatting import Cell, Colored, bytes_size, print_details, print_table
from dagster_versioned.cli.transfer import (
    copy_stream,
    progress_enabled,
    put_source,
    target_for,
    write_file,
    write_tree,
)
from dagster_versioned.errors import CommitFinished

if TYPE_CHECKING:
    from dagster_versioned.store import Commit, CommitWriter, FileInfo, Ref, Store

FILE_HEADER = ("NAME", "TYPE", "SIZE")
DIFF_HEADER = ("OP", "NAME", "TYPE", "SIZE")

raw_option = click.option("--raw", is_flag=True, help="Disable pretty printing; print raw JSON.")
_progress_flag = click.option(
    "--progress/--no-progress",
    default=None,
    help="Show progress bars (default: when stderr is a terminal): files, bytes, rate, ETA.",
)
_quiet_flag = click.option("-q", "--quiet", is_flag=True, help="Show no progress bar.")


def progress_option(fn: Any) -> Any:
    return _progress_flag(_quiet_flag(fn))


def _parse(text: str) -> Ref:
    from dagster_versioned.store.names import parse_ref

    return parse_ref(text)


def _write_branch(s: Store, ref: Ref, text: str) -> str:
    """The branch a write goes to: the ref's branch, or the branch of an open commit's id."""
    if ref.base is None:
        fail(f"invalid ref '{text}': expected <repo>@<branch>[:<path>]")
    if ref.ancestors or ref.nth is not None:
        fail(f"invalid ref '{text}': write to a branch or an open commit, not an ancestor")
    if not ref.is_commit:
        return ref.base
    commit = s.inspect_commit(f"{ref.repo}@{ref.base}")
    if commit.is_finished:
        fail(f"commit {ref.repo}@{ref.base} is finished; write to a branch or an open commit")
    return commit.branch


@contextlib.contextmanager
def _writer(s: Store, repo: str, branch: str) -> Iterator[CommitWriter]:
    """The branch's open commit if it has one, else a new commit landed when the block ends."""
    try:
        open_writer: CommitWriter | None = s.open_writer(f"{repo}@{branch}")
    except CommitFinished:
        open_writer = None
    if open_writer is not None:
        yield open_writer
        return
    with s.commit(f"{repo}@{branch}") as writer:
        yield writer


def _pin(s: Store, text: str) -> tuple[Ref, Commit, str]:
    """Resolve ``repo@ref[:path]`` to one commit: (parsed ref, commit, path or ``/``)."""
    ref = _parse(text)
    if ref.base is None:
        fail(f"invalid ref '{text}': expected <repo>@<branch-or-commit>[:<path>]")
    commit = s.inspect_commit(str(ref.without_path()))
    return ref, commit, ref.path or "/"


@verb("put").command(
    "file",
    short_help="Put a file into the filesystem.",
    epilog="""\b
Examples:
  # Put data from stdin at repo@branch:/path
  echo "data" | dvctl put file repo@branch:/path
  # Put a file from the local filesystem at repo@branch:/file
  dvctl put file repo@branch -f file
  # Put a file from the local filesystem at repo@branch:/path
  dvctl put file repo@branch:/path -f file
  # Put the contents of a directory at repo@branch:/dir/file
  dvctl put file -r repo@branch -f dir
  # Put the contents of a directory at repo@branch:/path/file (without /dir)
  dvctl put file -r repo@branch:/path -f dir
  # Put the data from a URL at repo@branch:/example.png
  dvctl put file repo@branch -f http://host/example.png
  # Put the data from an S3 bucket at repo@branch:/my_bucket/...
  dvctl put file repo@branch -r -f s3://my_bucket""",
)
@click.argument("target", metavar="<repo>@<branch-or-commit>[:<path/to/file>]")
@click.option(
    "-f", "--file", "sources", multiple=True, default=("-",), metavar="SRC",
    help="The file to be put: a local path, a URL (http, s3, any fsspec), or - for stdin.",
)  # fmt: skip
@click.option("-r", "--recursive", is_flag=True, help="Recursively put the files in a directory.")
@click.option(
    "-a", "--append", is_flag=True,
    help="Append to the existing content of the file, from the parent commit or this commit.",
)  # fmt: skip
@progress_option
def put_file(
    target: str,
    sources: tuple[str, ...],
    recursive: bool,
    append: bool,
    progress: bool | None,
    quiet: bool,
) -> None:
    """Put a file into the filesystem.

    The data goes into the branch's open commit if it has one; otherwise all sources of this
    command become one new commit (origin USER). A missing branch is created. A path ending
    in '/' is a directory: files keep their names below it.
    """
    s = store()
    ref = _parse(target)
    branch = _write_branch(s, ref, target)
    show = progress_enabled(progress) and not quiet
    into_dir = not recursive and target.partition(":")[2].endswith("/")
    with _writer(s, ref.repo, branch) as writer:
        for source in sources:
            dest = target_for(source, ref.path, len(sources), into_dir=into_dir)
            put_source(
                writer, dest, source, recursive=recursive, append=append, progress=show, store=s
            )


@verb("copy").command("file", short_help="Copy files between pfs paths.")
@click.argument("src", metavar="<src-repo>@<src-branch-or-commit>:<src-path>")
@click.argument("dst", metavar="<dst-repo>@<dst-branch>:<dst-path>")
def copy_file(src: str, dst: str) -> None:
    """Copy files between pfs paths, by reference: no file data is copied."""
    s = store()
    ref = _parse(dst)
    branch = _write_branch(s, ref, dst)
    if ref.path is None:
        fail(f"invalid ref '{dst}': give a destination path, like {ref.repo}@{branch}:/file")
    s.copy_file(src, f"{ref.repo}@{branch}:{ref.path}")


@verb("delete").command("file", short_help="Delete a file.")
@click.argument("target", metavar="<repo>@<branch-or-commit>:<path/in/pfs>")
@click.option(
    "-r", "--recursive", is_flag=True, help="Recursively delete the files in a directory."
)
def delete_file(target: str, recursive: bool) -> None:
    """Delete a file, or with -r a directory and everything below it."""
    s = store()
    ref = _parse(target)
    branch = _write_branch(s, ref, target)
    if ref.path is None:
        fail(f"invalid ref '{target}': give the path to delete, like {ref.repo}@{branch}:/file")
    full = f"{ref.repo}@{branch}:{ref.path}"
    if not recursive and s.inspect_file(full).type == "dir":
        fail(f"'{ref.path}' is a directory: use -r to delete it and everything below it")
    s.delete_file(full)


@verb("get").command(
    "file",
    short_help="Return the contents of a file.",
    epilog="""\b
Examples:
  # get file "XXX" on branch "master" in repo "foo"
  dvctl get file foo@master:XXX
  # get file "XXX" in the parent of the current head of branch "master"
  dvctl get file foo@master^:XXX
  # get all files under the directory "XXX" on branch "master" in repo "foo"
  dvctl get file foo@master:XXX -r -o out""",
)
@click.argument("source", metavar="<repo>@<branch-or-commit>:<path/in/pfs>")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="The path where data will be downloaded.",
)
@click.option("-r", "--recursive", is_flag=True, help="Recursively download a directory.")
@progress_option
def get_file(
    source: str, output: Path | None, recursive: bool, progress: bool | None, quiet: bool
) -> None:
    """Return the contents of a file (to stdout, or -o a local path)."""
    s = store()
    ref, commit, path = _pin(s, source)
    if ref.path is None:
        fail(f"invalid ref '{source}': give a path after ':', like {source}:/file")
    pinned = f"{ref.repo}@{commit.id}:{path}"
    info = s.inspect_file(pinned)
    show = progress_enabled(progress) and not quiet
    if recursive and output is None:
        fail("an output path needs to be specified when using the --recursive flag")
    if info.type == "dir":
        if not recursive or output is None:
            fail(f"'{path}' is a directory in {ref.repo}@{ref.base}: try again with the -r flag")
        write_tree(s, ref.repo, commit.id, path, output, show)
        return
    if output is not None:
        dest = output / Path(path).name if output.is_dir() else output
        write_file(s, pinned, dest, info.size, show)
        return
    with s.open_file(pinned) as f:
        copy_stream(f, sys.stdout.buffer, info.size, Path(path).name, show)


def _file_rows(infos: list[FileInfo]) -> list[list[Cell]]:
    return [[rawjson.file_path(i), i.type, bytes_size(i.size)] for i in infos]


def _print_files(infos: list[FileInfo], commit: Commit, raw: bool) -> None:
    if raw:
        for info in infos:
            echo(rawjson.dumps(rawjson.file_info(info, commit.branch)))
        return
    print_table(FILE_HEADER, _file_rows(infos))


@verb("list").command(
    "file",
    short_help="Return the files in a directory.",
    epilog="""\b
Examples:
  # list top-level files on branch "master" in repo "foo"
  dvctl list file foo@master
  # list files under directory "dir" on branch "master" in repo "foo"
  dvctl list file foo@master:dir
  # list top-level files in the parent commit of the current head of "master"
  dvctl list file foo@master^""",
)
@click.argument("target", metavar="<repo>@<branch-or-commit>[:<path/in/pfs>]")
@raw_option
def list_file(target: str, raw: bool) -> None:
    """Return the files in a directory (or the file itself)."""
    s = store()
    ref, commit, path = _pin(s, target)
    _print_files(s.list_file(f"{ref.repo}@{commit.id}:{path}"), commit, raw)


@verb("glob").command(
    "file",
    short_help="Return files that match a glob pattern in a commit.",
    epilog="""\b
Examples:
  # files in repo "foo" on branch "master" that start with "A"
  dvctl glob file 'foo@master:A*'
  # files in repo "foo" on branch "master" under directory "data"
  dvctl glob file 'foo@master:data/*'""",
)
@click.argument("target", metavar='"<repo>@<branch-or-commit>:<pattern>"')
@raw_option
def glob_file(target: str, raw: bool) -> None:
    """Return files that match a glob pattern in a commit (* ** ? [..] {a,b})."""
    head, colon, pattern = target.partition(":")
    if not colon:
        fail(f"invalid ref '{target}': give a pattern after ':', like {target}:/*")
    s = store()
    ref, commit, _ = _pin(s, head)
    _print_files(s.glob_file(f"{ref.repo}@{commit.id}:{pattern}"), commit, raw)


@verb("inspect").command("file", short_help="Return info about a file.")
@click.argument("target", metavar="<repo>@<branch-or-commit>:<path/in/pfs>")
@raw_option
def inspect_file(target: str, raw: bool) -> None:
    """Return info about a file or directory."""
    s = store()
    ref, commit, path = _pin(s, target)
    info = s.inspect_file(f"{ref.repo}@{commit.id}:{path}")
    if raw:
        echo(rawjson.dumps(rawjson.file_info(info, commit.branch)))
        return
    print_details(
        [("Path", rawjson.file_path(info)), ("Type", info.type), ("Size", bytes_size(info.size))]
    )


@verb("diff").command(
    "file",
    short_help="Return a diff of two file trees.",
    epilog="""\b
Examples:
  # files that differ between the head of "master" and its parent, below "path"
  dvctl diff file foo@master:path
  # files that differ between two commits at paths path1 and path2
  dvctl diff file foo@master:path1 bar@master:path2""",
)
@click.argument("new", metavar="<new-repo>@<new-branch-or-commit>[:<new-path>]")
@click.argument("old", metavar="[<old-repo>@<old-branch-or-commit>[:<old-path>]]", required=False)
@click.option(
    "--name-only", is_flag=True, help="Show only the names of changed files (the default)."
)
def diff_file(new: str, old: str | None, name_only: bool) -> None:
    """Return the files that differ between two trees ('+' new side, '-' old side).

    Without OLD the tree is compared with the same path in the parent commit. A changed file
    is listed twice: '+' with its new size, then '-' with its old size.
    """
    rows: list[list[Cell]] = []
    for d in store().diff_file(new, old):
        if d.new_size is not None:
            rows.append([Colored("+", "green"), d.path, "file", bytes_size(d.new_size)])
        if d.old_size is not None:
            rows.append([Colored("-", "red"), d.path, "file", bytes_size(d.old_size)])
    print_table(DIFF_HEADER, rows)
