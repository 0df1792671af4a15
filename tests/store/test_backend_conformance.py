"""The shipped backend conformance suite (``dagster_versioned.testing.backend_suite``) on every
backend the store ships: memory, local disk and S3 (the moto server of ``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dagster_versioned.store.backend import Backend
from dagster_versioned.store.opening import open_backend
from dagster_versioned.testing.backend_suite import BackendSuite


class TestShippedBackends(BackendSuite):
    __test__ = True

    @pytest.fixture
    def backend(self, store_location: tuple[str, dict[str, Any]]) -> Iterator[Backend]:
        url, options = store_location
        backend = open_backend(url, **options)
        yield backend
        if url.startswith("memory://"):
            backend.delete_tree("")  # memory is process-global


def test_each_shipped_backend_states_its_capabilities(
    store_location: tuple[str, dict[str, Any]],
) -> None:
    url, options = store_location
    backend = open_backend(url, **options)
    kind = url.partition("://")[0] if "://" in url else "local"

    assert backend.supports_exclusive_create
    assert (backend.local_path is not None) == (kind == "local")
    assert backend.is_object_store == (kind == "s3")
    if kind == "memory":
        backend.delete_tree("")
