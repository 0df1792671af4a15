"""Fixtures of the trigger tests: a store with repo ``data``, and dvctl run in-process on it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from click.testing import CliRunner

from dagster_versioned.cli.main import load_commands
from dagster_versioned.store import BranchHead, Store

MB = 1_000_000


@dataclass
class Data:
    """Repo ``data`` of a fresh store, with the few verbs the trigger tests speak in."""

    store: Store

    def head(self, branch: str) -> str | None:
        return self.store.inspect_branch(f"data@{branch}").head

    def put(self, branch: str, path: str, size: int = 10) -> str:
        """Commit ``size`` random bytes at ``path``; the new head's id."""
        self.store.put_file(f"data@{branch}:{path}", os.urandom(size))
        return self.head(branch) or ""

    def log(self, branch: str) -> list[BranchHead]:
        return self.store.branch_log("data", branch)

    def moves(self, branch: str, after: int) -> list[tuple[str | None, str]]:
        """(head, reason) of the entries of ``branch`` past sequence number ``after``."""
        return [(e.head, e.reason) for e in self.store.branch_log("data", branch, after)]

    def seq(self, branch: str) -> int:
        return self.log(branch)[-1].seq


@pytest.fixture
def data() -> Iterator[Data]:
    url = f"memory://triggers-{uuid.uuid4().hex}"
    store = Store.open(url)
    store.create_repo("data")
    yield Data(store)
    store.backend.fs.rm(store.backend.root, recursive=True)  # memory is process-global


@dataclass
class Dvctl:
    """``dvctl`` in-process (click's ``CliRunner``) on one store, as tests/cli runs it."""

    storage: str

    def run(self, *args: str, input: bytes | None = None) -> tuple[int, str, str]:
        result = CliRunner().invoke(
            load_commands(), ["--storage", self.storage, *args], input=input
        )
        return result.exit_code, result.stdout, result.stderr

    def ok(self, *args: str, input: bytes | None = None) -> str:
        code, out, err = self.run(*args, input=input)
        assert code == 0, f"dvctl {' '.join(args)} failed ({code}): {err}"
        return out

    def error(self, *args: str) -> str:
        """The one ``error:`` line of a command that must fail as a user error (exit 1)."""
        code, out, err = self.run(*args)
        assert (code, out) == (1, ""), f"expected exit 1, got {code}: {out}{err}"
        assert err.startswith("error: ")
        assert err.count("\n") == 1, err
        return err[len("error: ") : -1]


@pytest.fixture
def dv(data: Data) -> Dvctl:
    return Dvctl(data.store.backend.url)
