"""A fault-injecting HTTP reverse proxy for the moto S3 server, on 127.0.0.1.

Real S3 fails in passing: ``500 InternalError``, ``503 SlowDown``, connections dropped with or
without the request having been carried out, slow answers. The proxy sits between s3fs and the
moto server and does all of that at random, from a seeded plan, so the store's retries can be
tested against the failures they must survive. The dangerous ones forward the request first
and then fail (``reset_after``, ``error_after``): the write happened, the client saw an error.

Usage::

    with FaultProxy(s3_server, fault_rate=0.25, seed=7) as proxy:
        store = Store.open("s3://bucket/x", client_kwargs={"endpoint_url": proxy.endpoint})
        ...
        proxy.fault_rate = 0.0  # pass-through, for checking the result
    print(proxy.counts)

``inject_once`` queues one fault for the next request a predicate matches, to rebuild one
failure on purpose (for example a lost response to a branch-advancing create).
"""

from __future__ import annotations

import contextlib
import http.client
import random
import socket
import struct
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Fault kinds: answered by the proxy without forwarding, or after moto carried the request out.
ERROR_500 = "error_500"
SLOWDOWN_503 = "slowdown_503"
RESET_BEFORE = "reset_before"
RESET_AFTER = "reset_after"
ERROR_AFTER = "error_after"
DELAY = "delay"
FAULT_KINDS = (ERROR_500, SLOWDOWN_503, RESET_BEFORE, RESET_AFTER, ERROR_AFTER, DELAY)
FAILING_KINDS = (ERROR_500, SLOWDOWN_503, RESET_BEFORE, RESET_AFTER, ERROR_AFTER)
"""Every kind but ``delay``: with only these, no request ever succeeds."""

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "expect",
    }
)
Match = Callable[[str, str, Any], bool]
"""``(method, path, headers) -> bool``: which request a queued fault is for."""


def s3_error_body(code: str, message: str, resource: str) -> bytes:
    """An S3 XML error document, as S3 sends with a 5xx answer."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        f"<Resource>{resource}</Resource><RequestId>{uuid.uuid4().hex[:16]}</RequestId>"
        "</Error>"
    ).encode()


class FaultProxy:
    """A threaded reverse proxy in front of ``upstream`` that injects faults at random.

    Each request is faulty with probability ``fault_rate`` (0 is pass-through), the kind drawn
    uniformly from ``kinds``; ``counts`` tallies the faults injected by kind and ``requests``
    all requests seen. The plan comes from ``random.Random(seed)``.
    """

    def __init__(
        self,
        upstream: str,
        *,
        fault_rate: float = 0.0,
        seed: int = 0,
        kinds: Iterable[str] = FAULT_KINDS,
        max_delay: float = 0.25,
    ) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        if parsed.hostname is None or parsed.port is None:
            raise ValueError(f"upstream must be http://host:port, got {upstream!r}")
        self.upstream = (parsed.hostname, parsed.port)
        self.fault_rate = fault_rate
        self.kinds = tuple(kinds)
        unknown = set(self.kinds) - set(FAULT_KINDS)
        if unknown or not self.kinds:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; use {FAULT_KINDS}")
        self.max_delay = max_delay
        self.counts: Counter[str] = Counter()
        self.requests = 0
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._queued: list[tuple[Match, str]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.proxy = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def inject_once(self, kind: str, match: Match) -> None:
        """Inject ``kind`` into the next request ``match`` accepts (before any random fault)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; use {FAULT_KINDS}")
        with self._lock:
            self._queued.append((match, kind))

    @property
    def pending(self) -> int:
        """Queued faults not injected yet."""
        with self._lock:
            return len(self._queued)

    def choose(self, method: str, path: str, headers: Any) -> tuple[str | None, float]:
        """The fault for one request (``None`` for none) and, for ``delay``, how long."""
        with self._lock:
            self.requests += 1
            kind: str | None = None
            for i, (match, queued) in enumerate(self._queued):
                if match(method, path, headers):
                    kind = queued
                    del self._queued[i]
                    break
            if kind is None and self.fault_rate > 0 and self._rng.random() < self.fault_rate:
                kind = self._rng.choice(self.kinds)
            pause = self._rng.uniform(0.0, self.max_delay) if kind == DELAY else 0.0
            if kind is not None:
                self.counts[kind] += 1
            return kind, pause


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as S3 clients expect
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stalls

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._proxy_request()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_GET

    @property
    def _proxy(self) -> FaultProxy:
        return self.server.proxy  # type: ignore[attr-defined,no-any-return]

    def _proxy_request(self) -> None:
        body = self._read_body()
        kind, pause = self._proxy.choose(self.command, self.path, self.headers)
        if kind == ERROR_500:
            self._send_error(500, "InternalError", "We encountered an internal error.")
            return
        if kind == SLOWDOWN_503:
            self._send_error(503, "SlowDown", "Please reduce your request rate.")
            return
        if kind == RESET_BEFORE:
            self._reset()
            return
        if kind == DELAY:
            time.sleep(pause)
        status, headers, payload = self._forward(body)
        if kind == RESET_AFTER:
            self._reset()
            return
        if kind == ERROR_AFTER:
            self._send_error(500, "InternalError", "We encountered an internal error.")
            return
        self._send(status, headers, payload)

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is not None:
            return self.rfile.read(int(length))
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        return b""

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        host, port = self._proxy.upstream
        conn = http.client.HTTPConnection(host, port, timeout=60)
        try:
            # The client signed the Host it sent (the proxy's): pass it on unchanged.
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                    conn.putheader(name, value)
            if body or self.command in ("PUT", "POST"):
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body or None)
            resp = conn.getresponse()
            payload = resp.read()
            return resp.status, resp.getheaders(), payload
        finally:
            conn.close()

    def _send(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
        self.send_response_only(status)
        for name, value in headers:
            lower = name.lower()
            if lower in _HOP_BY_HOP or (lower == "content-length" and self.command != "HEAD"):
                continue
            self.send_header(name, value)
        if self.command != "HEAD":
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _send_error(self, status: int, code: str, message: str) -> None:
        payload = s3_error_body(code, message, urllib.parse.urlsplit(self.path).path)
        self._send(status, [("Content-Type", "application/xml")], payload)

    def _reset(self) -> None:
        """Drop the connection with a TCP reset, answering nothing."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()  # the socket closes only once its file objects are closed
            self.connection.close()

    def finish(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            super().finish()
