"""A local S3 endpoint (moto's standalone server on 127.0.0.1) that counts the requests it serves.

The test suite's ``s3_server`` fixture and the benchmarks (``python -m benchmarks.run``, case F)
both start the server through ``MotoServer``, so there is one way to get an S3 endpoint that never
touches the network or a real account. Requests are counted from the server's own request log
(one line per HTTP request, written before the response body is sent), so a count is what
crossed the wire, whatever client made it.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
"""Dummy credentials: moto accepts any, and these can never reach a real account."""
AWS_ENV_UNSET = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL")
"""Variables that could point boto3/s3fs at a real account or another endpoint."""
START_TIMEOUT = 30.0

_REQUEST_LINE = re.compile(rb'"([A-Z]+) (\S+) HTTP/[\d.]+" (\d{3})')
_ANSI = re.compile(rb"\x1b\[[0-9;]*m")
"""Werkzeug colours some log lines (a 404, a 206) with terminal escapes, in some environments."""
_BARRIER = "dv-log-barrier-"
"""Path prefix of the marker requests that ``MotoServer`` sends to itself (never counted)."""


class MotoServerError(RuntimeError):
    """The server exited or did not answer in time; the message quotes its output."""


@dataclass(frozen=True, slots=True)
class Request:
    """One request the server answered, as its log line records it."""

    method: str
    path: str
    """The request target: ``/bucket/key?query``."""
    status: int

    @property
    def kind(self) -> str:
        """``GET``, ``PUT``, ``HEAD``, ``DELETE``, ``POST``, or ``LIST`` for a bucket listing."""
        bucket_level = self.path.split("?", 1)[0].strip("/").count("/") == 0
        if self.method == "GET" and bucket_level:
            return "LIST"
        return self.method


def free_port() -> int:
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


class MotoServer:
    """moto's S3 server in a subprocess on 127.0.0.1; a context manager.

    Example::

        with MotoServer(tmp_path / "moto.log") as server:
            mark = server.mark()
            ...  # S3 calls against server.endpoint
            print(server.requests_since(mark))
    """

    def __init__(self, log_path: Path, *, serial: bool = True) -> None:
        self.log_path = Path(log_path)
        # moto's threaded server can let two exclusive creates of one key both succeed (see
        # moto_serial); one request at a time gives S3's atomicity, which every test relies on.
        self.module = "dagster_versioned.testing.moto_serial" if serial else "moto.server"
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> MotoServer:
        env = {k: v for k, v in os.environ.items() if k not in AWS_ENV_UNSET} | AWS_ENV
        # A log file, unlike a pipe nobody reads, never fills up and blocks the server.
        with self.log_path.open("wb") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", self.module, "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers_http(self.endpoint):
            code = self._proc.poll()
            if code is not None or time.monotonic() > deadline:
                state = (
                    f"exited with code {code}"
                    if code is not None
                    else f"did not answer within {START_TIMEOUT:.0f}s"
                )
                self.stop()
                raise MotoServerError(
                    f"moto server on {self.endpoint} {state}; its output:\n"
                    f"{self.log_path.read_text(errors='replace')}"
                )
            time.sleep(0.1)
        return self

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def storage_options(self) -> dict[str, object]:
        """``storage_options`` for s3fs (``Store.open("s3://…", **options)``)."""
        return {
            "client_kwargs": {"endpoint_url": self.endpoint},
            "key": AWS_ENV["AWS_ACCESS_KEY_ID"],
            "secret": AWS_ENV["AWS_SECRET_ACCESS_KEY"],
            "skip_instance_cache": True,
        }

    def client(self) -> Any:
        """A boto3 S3 client for this server, with the dummy credentials."""
        return s3_client(self.endpoint)

    def create_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    # -- counting ----------------------------------------------------------------------------

    def _barrier(self) -> int:
        """Send one marker request and wait for its log line; returns the log size after it.

        The server logs a request after answering it, so a client that has its answer may read
        the log before the line is there. With one request at a time (``serial``), once the
        marker's line is in the log every earlier request's line is too.
        """
        token = f"{_BARRIER}{time.monotonic_ns()}".encode()
        _answers_http(f"{self.endpoint}/{token.decode()}")
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            data = self.log_path.read_bytes()
            at = data.find(token)
            if at >= 0:
                end = data.find(b"\n", at)
                return len(data) if end < 0 else end + 1
            if time.monotonic() > deadline:
                raise MotoServerError(f"the server never logged the marker request {token!r}")
            time.sleep(0.005)

    def mark(self) -> int:
        """A position in the request log; ``requests_since(mark)`` lists what came after."""
        return self._barrier()

    def requests_since(self, mark: int) -> list[Request]:
        """The requests answered since ``mark``, every one of them (see ``_barrier``)."""
        end = self._barrier()
        with self.log_path.open("rb") as f:
            f.seek(mark)
            data = _ANSI.sub(b"", f.read(end - mark))
        return [
            Request(m.group(1).decode(), m.group(2).decode(), int(m.group(3)))
            for m in _REQUEST_LINE.finditer(data)
            if _BARRIER.encode() not in m.group(2)
        ]


def count_by_kind(requests: list[Request]) -> Counter[str]:
    """Requests per kind (``GET``, ``PUT``, ``LIST``, …)."""
    return Counter(r.kind for r in requests)


def s3_client(endpoint: str) -> Any:
    """A boto3 S3 client for the server at ``endpoint``, with the dummy credentials."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        region_name=AWS_ENV["AWS_DEFAULT_REGION"],
    )
