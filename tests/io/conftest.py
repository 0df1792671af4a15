"""Fixtures for the Dagster glue: a store per backend and a persistent Dagster instance."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import dagster as dg
import pytest

from dagster_versioned.store import Store


@dataclass
class StoreAt:
    """An empty store and the arguments that reach it from Dagster config or storage_options."""

    url: str
    options: dict[str, Any]
    store: Store

    @property
    def fs_options(self) -> dict[str, Any]:
        return {"storage": self.url, **self.options}


@pytest.fixture
def dv(store_location: tuple[str, dict[str, Any]]) -> StoreAt:
    """A store on memory, local disk and the S3 server fixture, in turn."""
    url, options = store_location
    return StoreAt(url, options, Store.open(url, **options))


@pytest.fixture
def local_dv(tmp_path) -> StoreAt:
    """A store on local disk only (for tests whose point is not the backend)."""
    url = str(tmp_path / "store")
    return StoreAt(url, {}, Store.open(url))


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    """A persistent (sqlite, temporary DAGSTER_HOME) instance, as sensors and run tags need."""
    with dg.instance_for_test() as inst:
        yield inst
