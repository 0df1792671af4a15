"""Bad input: exit 1 with one ``error:`` line naming the problem, or click's exit 2 for usage."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from dagster_versioned.cli.main import load_commands

from .helpers import Dv


@pytest.fixture
def data(dv: Dv) -> Dv:
    """A store with repo ``data``: master (one file) and staging."""
    dv.ok("create", "repo", "data")
    dv.ok("put", "file", "data@master:/dir/a", input=b"a")
    dv.ok("put", "file", "data@staging:/s", input=b"s")
    return dv


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("create", "repo", "bad name"), "invalid repo name 'bad name'"),
        (("create", "repo", "a/b"), "invalid repo name 'a/b'"),
        (("create", "repo", "x" * 64), "at most 63 allowed"),
        (("create", "repo", "data"), "repo 'data' already exists"),
        (("inspect", "repo", "nope"), "repo 'nope' not found"),
        (("list", "branch", "nope"), "repo 'nope' not found"),
        (("delete", "repo", "nope"), "repo 'nope' not found"),
        (("delete", "repo"), "either a repo name or the --all flag needs to be provided"),
        (("delete", "repo", "data", "--all"), "cannot use the --all flag with an argument"),
        (("create", "branch", "nope@master"), "repo 'nope' not found"),
        (("create", "branch", "data"), "expected repo@branch"),
        (("create", "branch", "data@bad branch"), "invalid branch name 'bad branch'"),
        (("create", "branch", "data@master", "--head", "missing"), "branch 'missing' not found"),
        (("create", "branch", "data@master", "--head", "staging^5"), "only 0 ancestors"),
        (("inspect", "branch", "data@missing"), "branch 'missing' not found in repo 'data'"),
        (("delete", "branch", "data@missing"), "branch 'missing' not found in repo 'data'"),
        (("list", "commit", "data@ma~^"), "cannot mix ^ and ~"),
        (("list", "commit", "data@"), "nothing after '@'"),
        (("list", "commit", "data@master^x"), "ancestry must be"),
        (("inspect", "commit", "data@master.0"), "'.N' needs a number N ≥ 1"),
        (("inspect", "commit", "data"), "name a branch or commit"),
        (("inspect", "commit", "0123456789abcdef0123456789abcdef"), 'Use "list commit <id>"'),
        (("inspect", "commit", "data@0123456789abcdef0123456789abcdef"), "not found"),
        (("finish", "commit", "data@master"), "'data@master' has no open commit to finish"),
        (("delete", "commit", "data@master"), "is not an open commit"),
        (("start", "commit", "data@master^1"), "expected repo@branch"),
        (("get", "file", "data@master:/../etc/passwd"), "'..' segments are not allowed"),
        (("get", "file", "data@master:/missing"), "path '/missing' not found"),
        (("get", "file", "data@master:/dir"), "is a directory"),
        (("get", "file", "data@master"), "give a path after ':'"),
        (("get", "file", "data@master:/dir", "-r"), "an output path needs to be specified"),
        (("get", "file", "data@master:/a\x01b"), "control character"),
        (("list", "file", "data@master:/missing"), "path '/missing' not found"),
        (("list", "file", "data"), "expected <repo>@<branch-or-commit>"),
        (("put", "file", "data@master:/x", "-f", "/no/such/file"), "cannot read '/no/such/file'"),
        (("put", "file", "data@master", "-f", "-"), "must specify filename when reading data"),
        (("put", "file", "data@master:/x", "-r", "-f", "-"), "cannot set -r and read from stdin"),
        (("put", "file", "data@master^1:/x", "-f", "-"), "not an ancestor"),
        (("put", "file", "nope@master:/x", "-f", "-"), "repo 'nope' not found"),
        (("put", "file", "data@master:/dir/a/b", "-f", "-"), "it is a file, not a directory"),
        (("copy", "file", "data@master:/dir/a", "data@master"), "give a destination path"),
        (("copy", "file", "data@master:/missing", "data@master:/b"), "'/missing' not found"),
        (("delete", "file", "data@master:/dir"), "use -r to delete it"),
        (("delete", "file", "data@master:/missing"), "path '/missing' not found"),
        (("diff", "file", "data@nobranch"), "branch 'nobranch' not found"),
        (("glob", "file", "data@master"), "give a pattern after ':'"),
    ],
)
def test_user_errors_exit_1_with_one_error_line(
    data: Dv, args: tuple[str, ...], expected: str
) -> None:
    message = data.error(*args, input=b"")
    assert expected in message


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ("create", "branch", "data@master", "--trigger-size", "1MB"),
            "trigger condition specified without a branch to trigger on, "
            "specify a branch with --trigger",
        ),
        (
            ("create", "branch", "data@master", "--trigger-cron", "@daily"),
            "trigger condition specified without a branch to trigger on",
        ),
        (
            ("create", "branch", "data@master", "--trigger-commits", "3"),
            "trigger condition specified without a branch to trigger on",
        ),
        (
            ("create", "branch", "data@master", "-t", "staging", "--trigger-commits", "-1"),
            "can't trigger on a negative number of commits",
        ),
        (
            ("create", "branch", "data@master", "-t", "staging", "--trigger-size", "lots"),
            "invalid trigger size 'lots'",
        ),
        (
            ("create", "branch", "data@master", "-t", "staging", "--trigger-cron", "every day"),
            "invalid cron spec 'every day'",
        ),
        (
            ("create", "branch", "data@master", "-t", "bad name"),
            "invalid branch name 'bad name'",
        ),
    ],
)
def test_bad_triggers_are_refused_with_pachyderm_messages(
    data: Dv, args: tuple[str, ...], expected: str
) -> None:
    assert expected in data.error(*args)
    assert data.store.inspect_branch("data@master").trigger is None


def test_trigger_loops_are_refused(data: Dv) -> None:
    data.ok("create", "branch", "data@master", "--trigger", "staging")
    assert data.error("create", "branch", "data@staging", "--trigger", "master") == (
        "triggers cannot form a loop: a trigger of 'data@staging' on 'master' would make "
        "staging -> master -> staging; trigger on a branch that does not follow 'staging'"
    )


def test_a_second_open_commit_on_a_branch_is_refused(data: Dv) -> None:
    data.ok("start", "commit", "data@master")
    assert "already has open commit" in data.error("start", "commit", "data@master")


def test_put_file_into_a_finished_commit_id_is_refused(data: Dv) -> None:
    head = data.store.inspect_commit("data@master").id
    assert "is finished" in data.error("put", "file", f"data@{head}:/x", input=b"x")


@pytest.mark.parametrize(
    "args",
    [
        ("create", "repo"),  # missing argument
        ("create", "repo", "a", "b"),  # extra argument
        ("list", "repo", "--bogus"),  # unknown option
        ("list", "commit", "-n", "-1"),  # out of range
        ("list", "commit", "-n", "many"),  # not a number
        ("create", "branch", "data@m", "-t", "s", "--trigger-commits", "x"),
        ("frobnicate",),  # unknown command
        ("list", "widgets"),  # unknown noun
    ],
)
def test_usage_errors_exit_2_like_click(data: Dv, args: tuple[str, ...]) -> None:
    run = data(*args)
    assert run.exit_code == 2
    assert "Usage:" in run.stderr
    assert "Traceback" not in run.stderr


def test_help_lists_pachctl_verbs_and_commands_show_examples() -> None:
    runner = CliRunner()
    cli = load_commands()
    top = runner.invoke(cli, ["--help"]).stdout
    for verb in ("create", "list", "inspect", "delete", "start", "finish", "put", "get", "diff"):
        assert f"\n  {verb} " in top
    assert "DAGSTER_VERSIONED_STORAGE" in top
    put_help = runner.invoke(cli, ["put", "file", "--help"]).stdout
    assert "Put a file into the filesystem." in put_help
    assert "dvctl put file -r repo@branch -f dir" in put_help
    branch_help = runner.invoke(cli, ["create", "branch", "--help"]).stdout
    assert "--trigger-size" in branch_help
    assert "--trigger-all" in branch_help
    listing = runner.invoke(cli, ["list", "--help"]).stdout
    for noun in ("branch", "commit", "file", "repo"):
        assert f"  {noun} " in listing


def test_storage_is_the_nearest_store_directory_above_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DAGSTER_VERSIONED_STORAGE", raising=False)
    project = tmp_path / "project"
    nested = project / "a" / "b"
    nested.mkdir(parents=True)
    (project / ".dagster_versioned").mkdir()
    monkeypatch.chdir(nested)
    runner = CliRunner()
    cli = load_commands()
    assert runner.invoke(cli, ["create", "repo", "found"]).exit_code == 0
    assert (project / ".dagster_versioned" / "repos" / "found" / "repo.json").exists()
    assert not (nested / ".dagster_versioned").exists()


def test_storage_defaults_to_a_new_store_directory_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DAGSTER_VERSIONED_STORAGE", raising=False)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(load_commands(), ["create", "repo", "fresh"])
    assert result.exit_code == 0
    assert (tmp_path / ".dagster_versioned" / "repos" / "fresh").is_dir()


def test_storage_from_the_environment_variable_and_the_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DAGSTER_VERSIONED_STORAGE", str(tmp_path / "from-env"))
    runner = CliRunner()
    cli = load_commands()
    assert runner.invoke(cli, ["create", "repo", "a"]).exit_code == 0
    opt = str(tmp_path / "from-option")
    assert runner.invoke(cli, ["--storage", opt, "create", "repo", "b"]).exit_code == 0
    assert (tmp_path / "from-env" / "repos" / "a").is_dir()
    assert (tmp_path / "from-option" / "repos" / "b").is_dir()
    assert not (tmp_path / ".dagster_versioned").exists()


def test_a_storage_url_that_cannot_be_opened_is_a_user_error(dv: Dv) -> None:
    from .helpers import Dv as Runner

    message = Runner("nosuchprotocol://somewhere").error("list", "repo")
    assert message.startswith("cannot open storage nosuchprotocol://somewhere")


def test_help_does_not_create_a_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DAGSTER_VERSIONED_STORAGE", raising=False)
    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(load_commands(), ["list", "repo", "--help"]).exit_code == 0
    assert not (tmp_path / ".dagster_versioned").exists()


@pytest.mark.s3
def test_store_open_on_a_missing_bucket_raises_a_versioned_error(
    s3_storage_options: dict[str, object],
) -> None:
    from dagster_versioned.errors import VersionedError
    from dagster_versioned.store import Store

    with pytest.raises(VersionedError):
        Store.open("s3://no-such-bucket-dvctl/store", **s3_storage_options)


@pytest.mark.s3
def test_dvctl_reports_a_missing_bucket_as_one_error_line(
    s3_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from .helpers import Dv as Runner

    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server)
    message = Runner("s3://no-such-bucket-dvctl/store").error("list", "repo")
    assert message.startswith("cannot open storage s3://no-such-bucket-dvctl/store")
