"""Run every check the project has, in order: the one test entry point.

Steps: ``ruff check``, ``ruff format --check``, ``mypy`` (strictness comes from
pyproject.toml), then ``pytest -n 2 -q``. Output streams as it is produced; the first failing
step stops the run with that step's exit code. pytest runs last so that its summary line is the
last line of output. pytest's exit code 5 ("no tests were collected") counts as a failure:
a green run must have run something.

Usage: ``.venv/bin/python scripts/check.py [extra pytest args...]``
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTEST_NO_TESTS_COLLECTED = 5


def run(args: list[str]) -> int:
    """Run ``python -m <args>`` in the repo root, streaming output; return its exit code."""
    cmd = [sys.executable, "-m", *args]
    print(f"==> {' '.join(args)}", flush=True)
    return subprocess.run(cmd, cwd=ROOT, check=False).returncode


def main(argv: list[str]) -> int:
    """Run the steps in order and return the exit code of the first failure, else 0."""
    steps: list[list[str]] = [
        ["ruff", "check", "."],
        ["ruff", "format", "--check", "."],
        ["mypy", "dagster_versioned"],
    ]
    for step in steps:
        code = run(step)
        if code != 0:
            print(f"check.py: '{' '.join(step)}' failed with exit code {code}", file=sys.stderr)
            return code
    code = run(["pytest", "-n", "2", "-q", *argv])
    if code == PYTEST_NO_TESTS_COLLECTED:
        print("check.py: pytest collected no tests; that is a failure", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
