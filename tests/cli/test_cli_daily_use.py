"""dvctl for daily use, the way pachctl users work: which store, completion, pachctl habits.

* a reading command on a location with no store fails with one line naming it and creates
  nothing; writing commands create the store; ``dvctl config`` says which store and why;
* ``dvctl completion bash|zsh|fish`` prints a script, and completion offers repo names,
  ``repo@branch`` and pipeline names from the store in use;
* a pachctl command we do not have says what to use instead; ``delete repo --all`` asks
  first; ``list pipeline`` shows a state only when the Dagster instance knows it.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from dagster_versioned.cli.main import load_commands
from dagster_versioned.pps.jobs import JobStore
from dagster_versioned.store import Store

from .helpers import Dv, env_without_storage, parse_table


def test_a_reading_command_on_a_missing_store_names_it_and_creates_nothing(tmp_path: Path):
    missing = tmp_path / "typo"
    for args in (("list", "repo"), ("inspect", "repo", "x"), ("get", "file", "x@master:/a"),
                 ("wait", "commit", "x@master"), ("fsck",)):  # fmt: skip
        message = Dv(str(missing)).error(*args)
        assert message.startswith(f"no store at {missing}:"), message
    assert not missing.exists()


def test_a_writing_command_creates_the_store(tmp_path: Path):
    dv = Dv(str(tmp_path / "new"))
    dv.ok("create", "repo", "images")
    assert dv.ok("list", "repo").startswith("NAME")


def test_config_says_which_store_and_how_it_was_chosen(tmp_path: Path, monkeypatch):
    runner = CliRunner()
    cli = load_commands()
    monkeypatch.chdir(tmp_path)
    for name, value in env_without_storage().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DAGSTER_VERSIONED_STORAGE", raising=False)

    new = runner.invoke(cli, ["config"]).stdout
    assert f"Storage: {tmp_path.resolve() / '.dagster_versioned'}" in new
    assert "Chosen by: none found" in new
    assert "Exists: no" in new
    assert not (tmp_path / ".dagster_versioned").exists()  # config never creates it

    Store.open(str(tmp_path / ".dagster_versioned"))
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    nearest = runner.invoke(cli, ["store"]).stdout
    assert "Chosen by: the nearest .dagster_versioned/" in nearest
    assert "Exists: yes" in nearest

    monkeypatch.setenv("DAGSTER_VERSIONED_STORAGE", str(tmp_path / "env"))
    assert "Chosen by: $DAGSTER_VERSIONED_STORAGE" in runner.invoke(cli, ["config"]).stdout
    flagged = runner.invoke(cli, ["--storage", str(tmp_path / "f"), "config"]).stdout
    assert "Chosen by: the --storage option" in flagged


def test_version_prints_the_package_version(dv: Dv):
    from importlib.metadata import version

    assert dv.ok("version") == f"dvctl {version('dagster-versioned')}\n"


@pytest.mark.parametrize(
    ("args", "points_to"),
    [
        (("create", "pipeline", "-f", "p.json"), "pipeline_from_spec"),
        (("update", "pipeline", "-f", "p.json"), "definitions.py"),
        (("mount", "/tmp/x"), "dv://"),
        (("port-forward",), "dvctl config"),
        (("auth", "login"), "storage"),
        (("debug", "dump"), "dvctl fsck"),
    ],
)
def test_a_pachctl_command_we_do_not_have_says_what_to_use(dv: Dv, args, points_to):
    message = dv.error(*args)
    assert message.startswith(f"dvctl has no '{args[0]}")
    assert points_to in message


def test_an_unknown_command_with_no_hint_is_still_a_usage_error(dv: Dv):
    run = dv("list", "nonsense")
    assert run.exit_code == 2
    assert "No such command 'nonsense'" in run.stderr


def test_delete_repo_all_asks_first_unless_forced(dv: Dv):
    dv.ok("create", "repo", "a")
    refused = dv("delete", "repo", "--all", input="n\n")
    assert refused.exit_code == 1
    assert "Are you sure you want to delete all repos?" in refused.stderr
    assert "error: no repo deleted" in refused.stderr
    assert "a" in dv.ok("list", "repo")
    dv.ok("delete", "repo", "--all", "-y")
    assert dv.ok("list", "repo").splitlines() == ["NAME CREATED SIZE DESCRIPTION"]


def _record_pipeline(store: Store, name: str, repo: str) -> None:
    JobStore(store).save_pipeline(
        {
            "name": name,
            "version": 2,
            "input": {"pfs": {"repo": repo, "branch": "master", "glob": "/*"}},
            "created": datetime.now(UTC).isoformat(),
            "description": "edges of images",
            "salt": "s",
            "output_branch": "master",
            "transform": {"cmd": ["python", "edges.py"]},
        }
    )


def test_list_pipeline_shows_no_state_it_does_not_know(dv: Dv, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    _record_pipeline(dv.store, "edges", "images")
    (row,) = parse_table(dv.ok("list", "pipeline"))
    assert row["STATE"] == "- / -"


def test_inspect_pipeline_shows_spec_version_input_and_state(dv: Dv, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    _record_pipeline(dv.store, "edges", "images")
    out = dv.ok("inspect", "pipeline", "edges")
    assert "Version: 2\n" in out
    assert "Input: images:/*\n" in out
    assert "State: -\n" in out
    assert '"cmd": ["python", "edges.py"]' in out
    assert '"state":"-"' in dv.ok("inspect", "pipeline", "edges", "--raw")
    assert dv.error("inspect", "pipeline", "nope") == (
        "pipeline 'nope' not found: known pipelines are edges"
    )


def _complete(storage: str, words: str) -> list[str]:
    """Ask dvctl for bash completions as the shell script does (click's protocol env vars)."""
    import subprocess
    import sys

    env = {
        **env_without_storage(),
        "_DVCTL_COMPLETE": "bash_complete",
        "COMP_WORDS": f"dvctl --storage {storage} {words}",
        "COMP_CWORD": str(len(words.split(" ")) + 2),
    }
    done = subprocess.run(
        [sys.executable, "-c", "from dagster_versioned.cli.main import main; main()"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if "," in line]  # "type,value"
    return sorted(line.split(",", 1)[1] for line in lines)


def test_completion_offers_repos_branches_and_pipelines_from_the_store(tmp_path: Path):
    storage = str(tmp_path / "store")
    dv = Dv(storage)
    dv.ok("create", "repo", "images")
    dv.ok("create", "repo", "labels")
    dv.ok("create", "branch", "images@master")
    dv.ok("create", "branch", "images@staging")
    _record_pipeline(dv.store, "edges", "images")

    assert _complete(storage, "inspect repo ") == ["images", "labels"]
    assert _complete(storage, "list branch im") == ["images"]
    assert _complete(storage, "list commit im") == ["images@"]
    assert _complete(storage, "list commit images@") == ["images@master", "images@staging"]
    assert _complete(storage, "inspect pipeline ") == ["edges"]
    assert _complete(storage, "list job -p ") == ["edges"]
    assert "repo" in _complete(storage, "list ")


def test_completion_on_a_missing_store_offers_nothing_and_creates_nothing(tmp_path: Path):
    assert _complete(str(tmp_path / "none"), "inspect repo ") == []
    assert not (tmp_path / "none").exists()


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_a_script_for_each_shell(dv: Dv, shell: str):
    assert "_DVCTL_COMPLETE" in dv.ok("completion", shell)


def test_completion_names_the_shells_it_knows(dv: Dv):
    assert dv.error("completion", "tcsh") == "invalid shell 'tcsh': use one of bash, zsh, fish"


def test_no_env_leaks_between_tests():
    assert os.environ.get("_DVCTL_COMPLETE") is None
