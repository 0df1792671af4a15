"""The docs cannot rot: every runnable command block of the README and docs/ is run here.

A ```` ```bash ```` block runs, in page order, in one fresh directory per page (so a page's
blocks build on each other like a reader's session), with the package's console scripts on
PATH and a store of its own. Blocks marked ```` ```bash no-test ```` — the ones that need a
running ``dagster dev``, a cloud bucket or another tool — are skipped, and so are the set-up
commands (``pip install``), which the clean-clone check exercises. ``docs/cli.md``'s console
examples are re-run by its own generator in ``--check`` mode.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```(?P<info>[^\n]*)\n(?P<body>.*?)^```\s*$", re.S | re.M)
NEVER_HERE = ("pip install", "dagster dev", "dagster-daemon", "dagster-webserver")


def runnable_blocks(page: Path) -> list[str]:
    blocks = []
    for m in BLOCK.finditer(page.read_text()):
        info = m.group("info").split()
        if not info or info[0] not in ("bash", "sh") or "no-test" in info:
            continue
        body = m.group("body")
        if any(word in body for word in NEVER_HERE):
            continue
        blocks.append(body)
    return blocks


PAGES_WITH_BLOCKS = [p for p in PAGES if runnable_blocks(p)]


def test_the_pages_that_should_have_runnable_blocks_do():
    names = {p.name for p in PAGES_WITH_BLOCKS}
    assert {"quickstart.md", "triggers.md"} <= names


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
    for i, block in enumerate(runnable_blocks(page), 1):
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


def test_the_cli_reference_examples_still_run():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "cli_examples.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=300,
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
