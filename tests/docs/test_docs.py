"""The docs cannot rot: every runnable command block of the README and docs/ is run here.

A ```` ```bash ```` block runs, in page order, in one fresh directory per page (so a page's
blocks build on each other like a reader's session), with the package's console scripts on
PATH and a store of its own. A block whose info string names a file (```` ```python
file=steps.py ````, ```` ```json file=train.parameters.json ````) is written to that file
first, so the code a page shows is the code its commands run — nothing is copied into a
heredoc where it could drift. Blocks marked ```` ```bash no-test ```` — the ones that need a
running ``dagster dev``, a cloud bucket or another tool — are skipped, and so are the set-up
commands (``pip install``), which the clean-clone check exercises. ``docs/cli.md``'s console
examples are re-run by its own generator in ``--check`` mode, which also compares their output
with the page.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```(?P<info>[^\n]*)\n(?P<body>.*?)^```\s*$", re.S | re.M)
NEVER_HERE = ("pip install", "dagster dev", "dagster-daemon", "dagster-webserver")


def page_steps(page: Path) -> list[tuple[str | None, str]]:
    """The page's steps in order: ``(file name, content)`` to write, ``(None, script)`` to run."""
    steps: list[tuple[str | None, str]] = []
    for m in BLOCK.finditer(page.read_text()):
        info = m.group("info").split()
        body = m.group("body")
        files = [word.removeprefix("file=") for word in info if word.startswith("file=")]
        if files:
            steps.append((checked_file_name(files[0], page), body))
            continue
        if not info or info[0] not in ("bash", "sh") or "no-test" in info:
            continue
        if any(word in body for word in NEVER_HERE):
            continue
        steps.append((None, body))
    return steps


def checked_file_name(name: str, page: Path) -> str:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts:
        raise AssertionError(f"{page.name}: file={name} must be a relative path inside the page")
    return name


def runnable_blocks(page: Path) -> list[str]:
    return [body for file, body in page_steps(page) if file is None]


PAGES_WITH_BLOCKS = [p for p in PAGES if runnable_blocks(p)]


def test_the_pages_that_should_have_runnable_blocks_do():
    names = {p.name for p in PAGES_WITH_BLOCKS}
    assert {"quickstart.md", "triggers.md", "grids.md"} <= names


def test_the_grid_job_example_is_written_out_before_it_runs():
    files = [file for file, _ in page_steps(ROOT / "docs" / "grids.md") if file is not None]
    assert {"definitions.py", "steps.py", "train.parameters.json", "report.ipynb"} <= set(files)


@pytest.mark.timeout(900)  # grids.md runs a grid batch with a notebook step
@pytest.mark.parametrize("page", PAGES_WITH_BLOCKS, ids=lambda p: p.name)
def test_every_command_block_of_the_page_runs(page: Path, tmp_path: Path):
    bindir = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
        "DAGSTER_VERSIONED_STORAGE": str(tmp_path / "store"),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
    }
    (tmp_path / "dagster_home").mkdir()
    (tmp_path / "dagster_home" / "dagster.yaml").write_text("")
    i = 0
    for file, block in page_steps(page):
        if file is not None:
            (tmp_path / file).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / file).write_text(block)
            continue
        i += 1
        proc = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert proc.returncode == 0, (
            f"{page.name}, block {i} failed with {proc.returncode}:\n{block}\n"
            f"--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}"
        )


@pytest.mark.timeout(900)  # two Dagster materialisations and a grid batch: minutes under load
def test_the_cli_reference_examples_still_run_and_print_what_the_page_shows():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "cli_examples.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_the_readme_opens_with_exactly_the_two_set_up_commands():
    text = (ROOT / "README.md").read_text()
    first = BLOCK.search(text)
    assert first is not None
    commands = [
        line for line in first.group("body").splitlines() if line and not line.startswith("#")
    ]
    venv = "python3 -m venv .venv && "
    assert commands == [
        venv + ".venv/bin/pip install -e . && .venv/bin/dagster dev -f definitions.py",
        venv + ".venv/bin/pip install -e '.[test]' && .venv/bin/python scripts/check.py",
    ]
    ci = (ROOT / ".ci" / "run").read_text()
    assert commands[1] in ci


def load_cli_examples() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("cli_examples", ROOT / "docs" / "cli_examples.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_cli_check_ignores_ids_times_and_padding_but_not_what_changed():
    m = load_cli_examples()
    ran = [
        m.Command("dvctl list job", "ID    STATE\n0123456789abcdef0123456789abcdef success\n"),
        m.Command("dvctl version", "dvctl 0.1.0\n"),
    ]
    same = (
        "```console\n$ dvctl list job\nID STATE\nfedcba9876543210fedcba9876543210    success\n"
        "$ dvctl version\ndvctl 0.1.0\n```\n"
    )
    assert m.differences("jobs", same, ran) == []
    changed = same.replace("success", "failure: boom")
    assert m.differences("jobs", changed, ran) == [
        "jobs: `dvctl list job` now prints:\n" + ran[0].output
    ]
    missing = same.replace("$ dvctl version\n", "")
    assert m.differences("jobs", missing, ran) == ["jobs: the page does not show `$ dvctl version`"]
    assert m.normalized("Created: 3 seconds ago\nat 2026-12-04T18:56:38.172247Z") == [
        "Created: <duration> ago",
        "at <time>",
    ]
