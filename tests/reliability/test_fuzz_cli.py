"""Hostile input through ``dvctl``: exit 0, or exit 1 with exactly one ``error:`` line, or exit 2
for a click usage error; never a traceback, and an error leaves the store as it was."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dagster_versioned.cli.main import load_commands
from dagster_versioned.store import Store

from .fuzzing import NASTY, nasty_cron, nasty_path, nasty_size, nasty_text, snapshot

fuzz = settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])


class Cli:
    """dvctl in-process on one memory store, checking every run's exit contract."""

    def __init__(self, url: str, tmp: Path) -> None:
        self.url = url
        self.tmp = tmp
        self.runner = CliRunner()
        self.cli = load_commands()
        self.store = Store.open(url)

    def __call__(self, *args: str, input: bytes | None = None) -> Result:
        before = snapshot(self.store)
        result = self.runner.invoke(self.cli, ["--storage", self.url, *args], input=input)
        where = f"dvctl {list(args)!r} exited {result.exit_code}"
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            f"{where} with {result.exception!r}"
        )
        assert "Traceback" not in result.output + result.stderr, where
        if result.exit_code == 0:
            return result
        assert result.exit_code in (1, 2), f"{where}: {result.stderr}"
        if result.exit_code == 1:
            lines = result.stderr.splitlines()
            assert len(lines) == 1, f"{where}: stderr is {result.stderr!r}"
            assert lines[0].startswith("error: "), where
            assert len(lines[0]) > len("error: "), where
        else:
            assert "Error:" in result.stderr, f"{where}: {result.stderr!r}"
        assert snapshot(self.store) == before, f"{where} and changed the store"
        return result


@pytest.fixture(scope="module")
def dv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    url = f"memory://fuzz-cli-{uuid.uuid4().hex}"
    store = Store.open(url)
    store.create_repo("data")
    store.put_file("data@master:/a.txt", b"alpha")
    store.put_file("data@master:/dir/b.txt", b"beta")
    yield Cli(url, tmp_path_factory.mktemp("fuzz-cli"))
    store.backend.fs.rm(store.backend.root, recursive=True)  # memory is process-global


@settings(fuzz, max_examples=30)
@given(name=nasty_text)
def test_create_repo_and_branch_with_any_name(dv, name):
    dv("create", "repo", name)
    dv("create", "branch", f"data@{name}")
    dv("create", "branch", name)
    dv("create", "branch", "data@moved", "--head", name)


@fuzz
@given(path=nasty_path)
def test_put_and_get_file_at_any_path(dv, path):
    if dv("put", "file", f"data@fuzz:{path}", input=b"payload").exit_code == 0:
        got = dv("get", "file", f"data@fuzz:{path}")
        assert got.exit_code == 1 or got.stdout_bytes == b"payload"


@settings(fuzz, max_examples=30)
@given(ref=nasty_text, path=nasty_path)
def test_read_commands_with_any_ref(dv, ref, path):
    for target in (ref, f"data@{ref}", f"data@master:{path}"):
        dv("get", "file", target)
        dv("list", "file", target)
        dv("glob", "file", target)
        dv("inspect", "commit", target)
        dv("list", "commit", target)
        dv("diff", "file", target)


@fuzz
@given(
    source=nasty_text, size=st.none() | nasty_size, cron=st.none() | nasty_cron, commits=st.text()
)
def test_create_branch_with_any_trigger(dv, source, size, cron, commits):
    args = ["create", "branch", "data@triggered", "--trigger", source]
    args += ["--trigger-size", size] if size is not None else []
    args += ["--trigger-cron", cron] if cron is not None else []
    dv(*args)
    dv("create", "branch", "data@counted", "--trigger", "master", "--trigger-commits", commits)


@pytest.mark.parametrize(
    "args",
    [
        ["create", "branch", "data@t", "--trigger", "master", "--trigger-size", "1.2.3"],
        ["create", "branch", "data@t", "--trigger", "master", "--trigger-size", "9" * 400],
        [
            "create",
            "branch",
            "data@t",
            "--trigger",
            "master",
            "--trigger-cron",
            "@every " + "9" * 20 + "h",
        ],
        ["put", "file", "data@master:/a/../../x"],
        ["get", "file", "data@master:/\x00"],
        ["create", "repo", "\ud800"],
    ],
    ids=["size-two-dots", "size-huge", "cron-huge", "dotdot", "nul", "surrogate"],
)
def test_known_hostile_commands_fail_with_one_error_line(dv, args):
    assert dv(*args, input=b"x").exit_code == 1


@pytest.mark.parametrize("text", NASTY, ids=range(len(NASTY)))
def test_every_known_nasty_string_keeps_the_exit_contract(dv, text):
    """The derandomised profile draws only some of these: each one is also tried every run."""
    dv("create", "repo", text)
    dv("create", "branch", f"data@{text}")
    dv("put", "file", f"data@nasty:/{text}", input=b"x")
    dv("get", "file", f"data@master:/{text}")
    dv("glob", "file", f"data@master:/{text}")
    dv("list", "commit", text)
    dv("create", "branch", "data@t", "--trigger", "master", "--trigger-size", text)
    dv("create", "branch", "data@t", "--trigger", "master", "--trigger-cron", text)
