"""Fixtures of the store conformance suite: one fresh ``Store`` per backend, and helpers.

Every test that takes ``store`` runs three times: on memory, on local disk and on the moto S3
server (see ``store_location`` in ``tests/conftest.py``). Tests that start other processes take
``shared_location`` instead: a memory store lives in one process only, so it runs on local disk
and S3.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dagster_versioned.store import Store


@pytest.fixture
def store(store_location: tuple[str, dict[str, Any]]) -> Iterator[Store]:
    """An empty store on each backend."""
    url, options = store_location
    store = Store.open(url, **options)
    yield store
    if url.startswith("memory://"):
        store.backend.fs.rm(store.backend.root, recursive=True)  # memory is process-global


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def shared_location(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, dict[str, Any]]:
    """``(url, storage_options)`` of an empty store that several processes can open."""
    if request.param == "local":
        return str(tmp_path / "store"), {}
    bucket: str = request.getfixturevalue("s3_bucket")
    options: dict[str, Any] = request.getfixturevalue("s3_storage_options")
    return f"s3://{bucket}/store-{uuid.uuid4().hex[:8]}", options
