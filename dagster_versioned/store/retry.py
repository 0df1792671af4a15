"""Bounded, logged retries of storage calls that fail transiently.

Object stores fail in passing: S3 answers ``500 InternalError`` or ``503 SlowDown``, drops
connections and stalls. botocore and s3fs each have a retry loop of their own, but they multiply
(5 x 5 attempts by default), neither knows which store key a request was for, and neither tells
the user. So the backend turns them down to a single attempt and retries here instead: every
retry is one log record on the ``dagster_versioned.store`` logger naming the operation, the key
and the attempt, and once the bound is spent the caller gets one ``StorageUnavailableError``
saying what failed and how often it was tried.

Retrying is only safe because every store write is idempotent or checked: objects are named by
their content, records are rewritten whole, and an exclusive create that finds its key taken
compares the bytes (``Backend.create``), since a create whose response was lost has landed.
That check is needed even with no retry here: aiohttp resends an idempotent request (``PUT``
included) once, silently, when a reused keep-alive connection drops before the answer.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from dagster_versioned.errors import InvalidArgument, StorageError, StorageUnavailableError

log = logging.getLogger("dagster_versioned.store")
T = TypeVar("T")

# S3 error codes that mean "not now" rather than "never" (the status decides for the rest).
_TRANSIENT_CODES = frozenset(
    {
        "InternalError",
        "ServiceUnavailable",
        "SlowDown",
        "SlowDownRead",
        "SlowDownWrite",
        "Throttling",
        "ThrottlingException",
        "RequestTimeout",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
    }
)
# Exception classes, by (top-level package, class name), that mean the connection or the
# response broke. Matched by name so that botocore and aiohttp are never imported for this.
_TRANSIENT_CLASSES = frozenset(
    {
        ("botocore", "HTTPClientError"),  # connection closed, read timeout, streaming error
        ("botocore", "ConnectionError"),  # endpoint unreachable, connect timeout
        ("botocore", "ResponseParserError"),  # a throttling response with a broken body
        ("botocore", "IncompleteReadError"),
        ("aiohttp", "ClientError"),  # server disconnected, payload error, reset by peer
        ("http", "HTTPException"),  # http.client.IncompleteRead and friends
    }
)
_MAX_CHAIN = 8


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How often, and how patiently, one storage call is retried.

    Example: ``Store.open("s3://bucket/x", retry=RetryPolicy(attempts=8))``.
    """

    attempts: int = 5
    """Tries per storage call, the first included; ``1`` never retries."""
    base_delay: float = 0.05
    """Upper bound of the first pause in seconds; it doubles with every further attempt."""
    max_delay: float = 2.0
    """No pause is longer than this."""

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise InvalidArgument(f"retry attempts must be at least 1, got {self.attempts}")

    def delay(self, attempt: int) -> float:
        """Full-jitter exponential back-off after failed attempt ``attempt`` (from 1)."""
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


def _chain(error: BaseException) -> list[BaseException]:
    """``error`` and what caused it (s3fs wraps botocore errors in ``OSError``)."""
    out: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and len(out) < _MAX_CHAIN and current not in out:
        out.append(current)
        current = current.__cause__ or current.__context__
    return out


def _response(error: BaseException) -> tuple[int | None, str | None] | None:
    """``(HTTP status, error code)`` of a botocore ``ClientError``; ``None`` for others."""
    response: Any = getattr(error, "response", None)
    if not isinstance(response, dict) or "Error" not in response:
        return None
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    code = response.get("Error", {}).get("Code")
    return (int(status) if status is not None else None, str(code) if code else None)


def _named_class(error: BaseException) -> bool:
    for cls in type(error).__mro__:
        if (cls.__module__.partition(".")[0], cls.__name__) in _TRANSIENT_CLASSES:
            return True
    return False


def is_transient(error: BaseException) -> bool:
    """Whether trying again may succeed: a 5xx or throttling answer, or a broken connection.

    A 4xx answer (access denied, no such bucket, precondition failed) is final.
    """
    for e in _chain(error):
        answer = _response(e)
        if answer is not None:
            status, code = answer
            return (status is not None and (status >= 500 or status == 429)) or (
                code in _TRANSIENT_CODES
            )
        if isinstance(e, ConnectionError | TimeoutError) or _named_class(e):
            return True
    return False


def describe(error: BaseException) -> str:
    """A one-line account of a storage failure: the S3 error code and status where known."""
    for e in _chain(error):
        answer = _response(e)
        if answer is not None:
            status, code = answer
            message = getattr(e, "response", {}).get("Error", {}).get("Message") or ""
            head = f"HTTP {status}" if code in (None, str(status)) else f"{code} (HTTP {status})"
            text = head + (f": {message}" if message else "")
            break
    else:
        text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def call_with_retries(
    fn: Callable[[], T],
    *,
    operation: str,
    key: str,
    policy: RetryPolicy,
    scrub: Callable[[str], str],
) -> T:
    """Run ``fn``, retrying transient failures within ``policy``; log every retry.

    ``FileNotFoundError`` and ``FileExistsError`` pass through (the store gives them meaning);
    any other failure becomes a ``StorageError``: ``StorageUnavailableError`` when transient
    failures outlasted the bound. ``scrub`` removes credentials from every message and log line.
    """
    started = time.monotonic()
    for attempt in range(1, policy.attempts + 1):
        try:
            return fn()
        except (FileNotFoundError, FileExistsError, StorageError):
            raise
        except Exception as e:
            what = scrub(describe(e))
            if not is_transient(e):
                raise StorageError(f"storage error while {operation} {key}: {what}") from e
            if attempt == policy.attempts:
                elapsed = time.monotonic() - started
                log.error(  # noqa: TRY400 - the caller gets the traceback with the error
                    "giving up %s %s after %d attempts (%.1fs): %s",
                    operation,
                    key,
                    attempt,
                    elapsed,
                    what,
                    extra={"storage_operation": operation, "storage_key": key},
                )
                raise StorageUnavailableError(
                    f"storage unavailable while {operation} {key}: failed {attempt} times "
                    f"(retried {attempt - 1} times over {elapsed:.1f}s); last error: {what}",
                    operation=operation,
                    key=key,
                    attempts=attempt,
                ) from e
            pause = policy.delay(attempt)
            log.warning(
                "retrying %s %s: attempt %d of %d failed (%s); next try in %.2fs",
                operation,
                key,
                attempt,
                policy.attempts,
                what,
                pause,
                extra={
                    "storage_operation": operation,
                    "storage_key": key,
                    "storage_attempt": attempt,
                },
            )
            time.sleep(pause)
    raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover
