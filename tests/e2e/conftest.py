"""Fixtures of the end-to-end tests: real servers they start and always stop."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .postgres import PostgresServer, running_postgres


@pytest.fixture
def postgres_server() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server on 127.0.0.1 (skipped outside CI if none is installed)."""
    with running_postgres() as server:
        yield server
