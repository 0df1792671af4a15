"""Pachyderm's "Deferred Processing" page, command by command, through the installed ``dvctl``.

Each step runs the real console script in a subprocess, the way a user types it, and checks
the tables the page shows. The walk-through runs on local disk (the store found as
``.dagster_versioned/`` in the working directory) and on the moto S3 server (``--storage
s3://…`` with the endpoint taken from ``AWS_ENDPOINT_URL``, as boto and s3fs do). It is cut in
three parts at the page's sections so the slow S3 parts run in parallel; each later part
starts from the state the earlier ones end in, made through the Python API.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from dagster_versioned.store import Store

from .helpers import env_without_storage, parse_table


@dataclass
class Dvctl:
    """The installed dvctl, run as a process in one working directory and environment."""

    path: str
    cwd: Path
    env: dict[str, str]
    storage_args: list[str] = field(default_factory=list)

    def run(self, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [self.path, *self.storage_args, *args],
            cwd=self.cwd,
            env=self.env,
            input=input,
            capture_output=True,
            timeout=120,
            check=False,
        )

    def __call__(self, *args: str, input: bytes | None = None) -> str:
        done = self.run(*args, input=input)
        assert done.returncode == 0, f"dvctl {' '.join(args)}: {done.stderr.decode()}"
        assert done.stderr == b"", done.stderr.decode()
        return done.stdout.decode()


def branches(dv: Dvctl) -> dict[str, dict[str, str]]:
    return {row["BRANCH"]: row for row in parse_table(dv("list", "branch", "data"))}


def file_names(dv: Dvctl, ref: str) -> set[str]:
    return {row["NAME"] for row in parse_table(dv("list", "file", ref))}


def staging_branch(dv: Dvctl, open_store: Callable[[], Store]) -> None:
    """The page's steps 1-7: a repo, master's AUTO commit, staging, ``--head staging``."""
    # 1-3. create a repo and a master branch: an empty AUTO head commit
    dv("create", "repo", "data")
    dv("create", "branch", "data@master")
    (auto,) = parse_table(dv("list", "commit", "data"))
    assert (auto["REPO"], auto["BRANCH"], auto["SIZE"], auto["ORIGIN"]) == (
        "data", "master", "0B", "AUTO",
    )  # fmt: skip
    assert auto["FINISHED"].endswith(" ago")
    assert open_store().inspect_commit("data@master").origin.value == "AUTO"

    # 4-5. put file to staging creates the branch; master keeps its head
    (dv.cwd / "file1").write_bytes(b"first file\n")
    dv("put", "file", "data@staging", "-f", "file1")
    listed = branches(dv)
    assert list(listed) == ["staging", "master"]
    assert listed["master"]["HEAD"] == auto["COMMIT"]
    assert listed["staging"]["HEAD"] != auto["COMMIT"]
    assert {row["TRIGGER"] for row in listed.values()} == {"-"}
    staging_head = listed["staging"]["HEAD"]

    # 6-7. process the staged data: master's head moves to staging's
    dv("create", "branch", "data@master", "--head", "staging")
    listed = branches(dv)
    assert listed["master"]["HEAD"] == listed["staging"]["HEAD"] == staging_head


def specific_commits_and_rollback(dv: Dvctl, open_store: Callable[[], Store]) -> None:
    """ "Process Specific Commits" and "Change the HEAD of your Branch", after steps 1-7."""
    store = open_store()
    store.create_repo("data")
    store.create_branch("data@master")
    store.put_file("data@staging:/file1", b"first file\n")
    store.create_branch("data@master", head="data@staging")
    staging_head = store.inspect_branch("data@staging").head

    # ten commits, then staging^7, staging^3 and staging: three head moves, in order
    for i in range(2, 12):
        dv("put", "file", f"data@staging:/file{i}", input=f"file number {i}\n".encode())
    history = [row["COMMIT"] for row in parse_table(dv("list", "commit", "data@staging"))]
    assert len(history) == 11
    assert history[-1] == staging_head
    cursor = open_store().branch_log("data", "master")[-1].seq
    for ref in ("staging^7", "staging^3", "staging"):
        dv("create", "branch", "data@master", "--head", ref)
    moves = open_store().branch_log("data", "master", after=cursor)
    assert [(e.head, e.reason) for e in moves] == [
        (history[7], "move"), (history[3], "move"), (history[0], "move"),
    ]  # fmt: skip

    # Change the HEAD of your branch: roll back to staging^1
    dv("create", "branch", "data@master", "--head", "staging^1")
    assert branches(dv)["master"]["HEAD"] == history[1]


def prepare_staged_repo(store: Store) -> list[str]:
    """The state the previous parts end in, made through the Python API: staging's history."""
    store.create_repo("data")
    store.create_branch("data@master")
    for i in range(1, 12):
        store.put_file(f"data@staging:/file{i}", f"file number {i}\n".encode())
    store.create_branch("data@master", head="data@staging^1")
    return [c.id for c in store.list_commit("data@staging")]


def copy_files_and_triggers(dv: Dvctl, open_store: Callable[[], Store]) -> None:
    """The page from "Copy Files from One Branch to Another" to the end of the trigger section."""
    history = prepare_staged_repo(open_store())

    # Copy files from one branch to another inside one commit
    commit_id = dv("start", "commit", "data@master").strip()
    dv("copy", "file", "data@staging:file1", "data@master:file1")
    dv("copy", "file", "data@staging:file2", "data@master:file2")
    dv("delete", "file", "data@master:file3")
    dv("put", "file", "data@master:/new-file", input=b"not in a repo yet\n")
    open_row = parse_table(dv("list", "commit", "data@master"))[0]
    assert (open_row["COMMIT"], open_row["FINISHED"]) == (commit_id, "-")
    dv("finish", "commit", "data@master")
    assert branches(dv)["master"]["HEAD"] == commit_id
    files = file_names(dv, "data@master")
    assert {"/file1", "/file2", "/new-file"} <= files
    assert "/file3" not in files
    assert dv("get", "file", "data@master:/file2") == "file number 2\n"

    # Automate deferred processing with branch triggers
    dv("create", "branch", "data@master", "--trigger", "staging", "--trigger-size", "1MB")
    listed = branches(dv)
    assert listed["master"]["TRIGGER"] == "staging on Size(1MB)"
    assert listed["staging"]["TRIGGER"] == "-"
    assert listed["master"]["HEAD"] == commit_id  # less than 1MB of new data: no move

    # dd if=/dev/urandom bs=1MiB count=1 | pachctl put file data@staging:/file
    dv("put", "file", "data@staging:/file", input=os.urandom(1024 * 1024))
    listed = branches(dv)
    assert listed["master"]["HEAD"] == listed["staging"]["HEAD"] != commit_id
    assert listed["master"]["TRIGGER"] == "staging on Size(1MB)"

    # A manual head move keeps the trigger; deleting the branch clears it
    dv("create", "branch", "data@master", "--head", "staging^1")
    listed = branches(dv)
    assert listed["master"]["HEAD"] == history[0]
    assert listed["master"]["TRIGGER"] == "staging on Size(1MB)"
    dv("delete", "branch", "data@master")
    assert list(branches(dv)) == ["staging"]
    dv("create", "branch", "data@master")
    assert branches(dv)["master"]["TRIGGER"] == "-"


Part = Callable[[Dvctl, Callable[[], Store]], None]
PARTS = [
    pytest.param(staging_branch, id="staging-branch"),
    pytest.param(specific_commits_and_rollback, id="specific-commits-and-rollback"),
    pytest.param(copy_files_and_triggers, id="copy-files-and-triggers"),
]


@pytest.mark.slow
@pytest.mark.parametrize("part", PARTS)
def test_deferred_processing_walkthrough_on_local_disk(
    part: Part, dvctl_path: str, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    dv = Dvctl(dvctl_path, project, env_without_storage())
    part(dv, lambda: Store.open(str(project / ".dagster_versioned")))
    assert (project / ".dagster_versioned" / "repos" / "data").is_dir()


@pytest.mark.slow
@pytest.mark.s3
@pytest.mark.parametrize("part", PARTS)
def test_deferred_processing_walkthrough_on_s3(
    part: Part,
    dvctl_path: str,
    tmp_path: Path,
    s3_server: str,
    s3_bucket: str,
    s3_storage_options: dict[str, Any],
) -> None:
    url = f"s3://{s3_bucket}/store"
    env = env_without_storage(AWS_ENDPOINT_URL=s3_server)
    dv = Dvctl(dvctl_path, tmp_path, env, ["--storage", url])
    part(dv, lambda: Store.open(url, **s3_storage_options))
    assert not (tmp_path / ".dagster_versioned").exists()


def test_the_installed_script_reports_user_errors_without_a_traceback(
    dvctl_path: str, tmp_path: Path
) -> None:
    dv = Dvctl(dvctl_path, tmp_path, env_without_storage(), ["--storage", str(tmp_path / "s")])
    Store.open(str(tmp_path / "s"))  # an empty store: a missing one is its own error
    missing = dv.run("list", "branch", "nope")
    assert missing.returncode == 1
    assert missing.stdout == b""
    assert missing.stderr == b"error: repo 'nope' not found\n"
    no_file = dv.run("put", "file", "x@master:/a", "-f", str(tmp_path / "absent"))
    assert no_file.returncode == 1
    assert no_file.stderr.count(b"\n") == 1
    usage = dv.run("list", "branch")
    assert usage.returncode == 2
    assert b"Traceback" not in usage.stderr


def test_dvctl_never_imports_dagster_pandas_or_rich_when_piped(
    dvctl_path: str, tmp_path: Path
) -> None:
    storage = str(tmp_path / "store")
    Store.open(storage).create_repo("data")
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "dagster_versioned.cli",
         "--storage", storage, "list", "branch", "data"],
        capture_output=True, check=True, env=env_without_storage(),
    )  # fmt: skip
    imported = {
        line.split("|")[-1].strip()
        for line in done.stderr.decode().splitlines()
        if line.startswith("import time:")
    }
    top_level = {name.split(".")[0] for name in imported}
    assert "dagster_versioned" in top_level
    assert not top_level & {"dagster", "pandas", "rich", "pyarrow", "croniter"}
    assert done.stdout.decode() == "BRANCH HEAD TRIGGER\n"
