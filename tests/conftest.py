"""Shared fixtures: a local S3 server (moto), store locations per backend, hypothesis profiles.

S3 tests never touch the network or real AWS: ``s3_server`` runs moto's standalone server on
127.0.0.1 in a subprocess (one per pytest-xdist worker) and dummy credentials are set for the
whole session once it starts.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from dagster_versioned.testing.s3server import AWS_ENV, AWS_ENV_UNSET, MotoServer, MotoServerError

# ---------------------------------------------------------------- hypothesis profiles

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=50)
settings.register_profile("dev", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

# ---------------------------------------------------------------- local caches


@pytest.fixture(scope="session", autouse=True)
def _pack_index_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Pack indexes read from S3 are cached under the session's temporary folder, never in the
    user's ~/.cache (subprocesses inherit the variable)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGSTER_VERSIONED_CACHE", str(tmp_path_factory.mktemp("dv-cache")))
        yield


# ---------------------------------------------------------------- S3 (moto server)


@pytest.fixture(scope="session")
def aws_credentials() -> Iterator[dict[str, str]]:
    """Dummy AWS credentials in the test process's environment, restored at session end."""
    with pytest.MonkeyPatch.context() as mp:
        for name in AWS_ENV_UNSET:
            mp.delenv(name, raising=False)
        for name, value in AWS_ENV.items():
            mp.setenv(name, value)
        yield dict(AWS_ENV)


@pytest.fixture(scope="session")
def s3_server(
    aws_credentials: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Start moto's S3 server on 127.0.0.1 and yield its endpoint URL ``http://127.0.0.1:<port>``."""
    server = MotoServer(tmp_path_factory.mktemp("moto") / "server.log")
    try:
        server.start()
    except MotoServerError as e:
        pytest.fail(str(e), pytrace=False)
    try:
        yield server.endpoint
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_server: str) -> str:
    """A fresh, uniquely named, empty bucket on the moto server."""
    import boto3

    name = f"dv-test-{uuid.uuid4().hex[:20]}"
    boto3.client("s3", endpoint_url=s3_server).create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_storage_options(s3_server: str) -> dict[str, Any]:
    """``storage_options`` for s3fs pointing at the moto server."""
    return {
        "client_kwargs": {"endpoint_url": s3_server},
        "key": "testing",
        "secret": "testing",
        "skip_instance_cache": True,
    }


# ---------------------------------------------------------------- store locations


@pytest.fixture(params=["memory", "local", pytest.param("s3", marks=pytest.mark.s3)])
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, dict[str, Any]]:
    """``(url, storage_options)`` of an empty store root, once per backend.

    The S3 fixtures are requested lazily, so memory and local runs never start the moto server.
    """
    backend: str = request.param
    if backend == "memory":
        return f"memory://dv-{uuid.uuid4().hex}", {}
    if backend == "local":
        return str(tmp_path / "store"), {}
    bucket: str = request.getfixturevalue("s3_bucket")
    options: dict[str, Any] = request.getfixturevalue("s3_storage_options")
    return f"s3://{bucket}/store", options
