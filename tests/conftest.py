"""Shared fixtures: a local S3 server (moto), store locations per backend, hypothesis profiles.

S3 tests never touch the network or real AWS: ``s3_server`` runs moto's standalone server on
127.0.0.1 in a subprocess (one per pytest-xdist worker) and dummy credentials are set for the
whole session once it starts.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

# ---------------------------------------------------------------- hypothesis profiles

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=50)
settings.register_profile("dev", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

# ---------------------------------------------------------------- S3 (moto server)

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
# Variables that could point boto3/s3fs at a real account or another endpoint.
AWS_ENV_UNSET = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL")
S3_SERVER_START_TIMEOUT = 30.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers_http(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True  # any HTTP status means the server is up
    except OSError:
        return False


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
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    # The server logs every request: a file, unlike a pipe nobody reads, never fills up and blocks.
    log_path: Path = tmp_path_factory.mktemp("moto") / "server.log"
    env = {k: v for k, v in os.environ.items() if k not in AWS_ENV_UNSET} | aws_credentials
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        deadline = time.monotonic() + S3_SERVER_START_TIMEOUT
        while not _answers_http(endpoint):
            if proc.poll() is not None or time.monotonic() > deadline:
                state = (
                    f"exited with code {proc.returncode}"
                    if proc.poll() is not None
                    else f"did not answer within {S3_SERVER_START_TIMEOUT:.0f}s"
                )
                pytest.fail(
                    f"moto server on {endpoint} {state}; its output:\n"
                    f"{log_path.read_text(errors='replace')}",
                    pytrace=False,
                )
            time.sleep(0.1)
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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
