"""Fixtures of the grid tests: a real Dagster instance, a store, a project directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from .helpers import make_project


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        yield inst


@pytest.fixture
def storage(tmp_path: Path) -> str:
    return str(tmp_path / "store")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "out"


@pytest.fixture
def job_kwargs(storage: str, tmp_path: Path, out: Path) -> dict:
    """Where a test's grid jobs keep their records and run checkouts, and the steps' $GRID_OUT."""
    return {
        "storage": storage,
        "workdir_root": tmp_path / "runs",
        "env": {"GRID_OUT": str(out)},
    }
