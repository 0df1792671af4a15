"""Fixtures of the dvctl tests: an in-process runner on a fresh store, and the installed script."""

from __future__ import annotations

import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dagster_versioned.store import Store

from .helpers import Dv


@pytest.fixture
def dv() -> Iterator[Dv]:
    """dvctl in-process (fast) on a fresh memory store."""
    url = f"memory://dvctl-{uuid.uuid4().hex}"
    Store.open(url)  # reading commands never create a store: a test starts from an empty one
    yield Dv(url)
    store = Store.open(url)
    store.backend.fs.rm(store.backend.root, recursive=True)  # memory is process-global


@pytest.fixture(scope="session")
def dvctl_path() -> str:
    """The ``dvctl`` console script installed in this virtualenv (what users run)."""
    candidate = Path(sys.executable).parent / "dvctl"
    found = str(candidate) if candidate.exists() else shutil.which("dvctl")
    if not found:
        pytest.fail("dvctl is not installed: run `.venv/bin/pip install -e '.[test]'`")
    return found
