"""Helpers of the dvctl tests: an in-process runner and a parser for dvctl's plain tables."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from click.testing import CliRunner

from dagster_versioned.cli.main import load_commands
from dagster_versioned.store import Store


@dataclass
class Run:
    """What one dvctl invocation printed and returned."""

    exit_code: int
    stdout: str
    stderr: str
    stdout_bytes: bytes = b""


class Dv:
    """Runs ``dvctl`` commands in-process (click's ``CliRunner``) against one store."""

    def __init__(self, storage: str) -> None:
        self.storage = storage
        self.runner = CliRunner()
        self.cli = load_commands()

    def __call__(self, *args: str, input: bytes | str | None = None) -> Run:
        result = self.runner.invoke(
            self.cli, ["--storage", self.storage, *args], input=input, catch_exceptions=False
        )
        return Run(result.exit_code, result.stdout, result.stderr, result.stdout_bytes)

    def ok(self, *args: str, input: bytes | str | None = None) -> str:
        """Run a command that must succeed; return its stdout."""
        run = self(*args, input=input)
        assert run.exit_code == 0, f"dvctl {' '.join(args)} failed ({run.exit_code}): {run.stderr}"
        assert run.stderr == "", run.stderr
        return run.stdout

    def error(self, *args: str, input: bytes | str | None = None) -> str:
        """Run a command that must fail as a user error: exit 1, one ``error:`` line."""
        run = self(*args, input=input)
        assert run.exit_code == 1, f"expected exit 1, got {run.exit_code}: {run.stdout}{run.stderr}"
        assert run.stdout == ""
        assert run.stderr.startswith("error: ")
        assert run.stderr.endswith("\n"), run.stderr
        assert run.stderr.count("\n") == 1, run.stderr
        return run.stderr[len("error: ") : -1]

    @property
    def store(self) -> Store:
        return Store.open(self.storage)


def parse_table(text: str) -> list[dict[str, str]]:
    """Rows of a plain dvctl table as dicts, cut at the header's column offsets.

    Columns are padded to a common width, so each header word starts where its column starts
    and cells may contain spaces (``3 seconds ago``).
    """
    rows = [line for line in text.splitlines() if line.strip()]
    assert rows, "expected a table, got no output"
    header = rows[0]
    names = header.split()
    starts = [m.start() for m in re.finditer(r"\S+", header)]
    out = []
    for line in rows[1:]:
        cells = {}
        for i, name in enumerate(names):
            end = starts[i + 1] if i + 1 < len(names) else None
            cells[name] = line[starts[i] : end].strip()
        out.append(cells)
    return out


def header(text: str) -> list[str]:
    return text.splitlines()[0].split()


def env_without_storage(**extra: str) -> dict[str, str]:
    """The test process's environment minus DAGSTER_VERSIONED_STORAGE, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_VERSIONED_STORAGE"}
    env.update(extra)
    return env
