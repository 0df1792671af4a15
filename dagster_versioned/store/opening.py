"""Opening a storage URL as a backend: plain local paths without fsspec (so ``dvctl`` starts
fast), everything else through fsspec, refusing a location that cannot create exclusively.

``create=False`` opens only a store that exists (its root record is there): a reading command
given a mistyped path must say so, not leave an empty store behind that hides the mistake.
"""

from __future__ import annotations

import os
from typing import Any

from dagster_versioned.errors import StorageError, StoreNotFound, UnsupportedBackend
from dagster_versioned.store._fsspec_backend import FsspecBackend, protocol_of
from dagster_versioned.store._local_backend import LocalBackend
from dagster_versioned.store.backend import S3_PROTOCOLS, Backend, translate_errors
from dagster_versioned.store.credentials import redact_url, scrub_credentials, secret_values
from dagster_versioned.store.layout import ROOT_RECORD
from dagster_versioned.store.retry import RetryPolicy


def open_backend(
    url: str,
    *,
    single_writer: bool = False,
    retry: RetryPolicy | None = None,
    create: bool = True,
    **storage_options: Any,
) -> Backend:
    """Open the fsspec location ``url`` as a backend, refusing one that cannot create exclusively.

    Branch heads move by exclusive create; on a backend without it two writers could both
    advance a branch and one commit would silently vanish, so such a backend is refused unless
    the caller promises there is only one writer. ``retry`` bounds the retries of transient
    storage failures (see ``retry.py``). ``create=False`` raises ``StoreNotFound`` unless a
    store exists at ``url``, and then creates nothing (not even the directory).
    """
    local = _local_path(url)
    if not create and local is not None and not os.path.isdir(os.path.expanduser(local)):
        raise StoreNotFound(redact_url(url))  # checked first: a local backend makes its root
    backend = _open(url, single_writer=single_writer, retry=retry, **storage_options)
    if not create and not backend.exists(ROOT_RECORD):
        _refuse_missing_bucket(backend, url)
        raise StoreNotFound(redact_url(url))
    return backend


def _refuse_missing_bucket(backend: Backend, url: str) -> None:
    """Say "no such bucket" rather than "no store" when the bucket itself is missing: the
    same message a writing command gets, which is the fix the user needs."""
    if backend.protocol not in S3_PROTOCOLS or backend.local_path is not None:
        return
    bucket = backend.root.strip("/").split("/", 1)[0]
    with translate_errors(f"opening storage {redact_url(url)}"):
        found = backend.fs.exists(bucket)
    if not found:
        raise StorageError(
            f"cannot open storage {redact_url(url)}: bucket '{bucket}' does not exist "
            "(create the bucket or directory first)"
        )


def _open(
    url: str, *, single_writer: bool, retry: RetryPolicy | None, **storage_options: Any
) -> Backend:
    local = _local_path(url)
    if local is not None and not storage_options:
        return LocalBackend(os.path.abspath(os.path.expanduser(local)), url)
    import fsspec
    from fsspec.implementations.local import LocalFileSystem
    from fsspec.implementations.memory import MemoryFileSystem

    s3 = url.partition("://")[0] in S3_PROTOCOLS
    if s3:
        storage_options = _single_attempt_botocore(storage_options)
    try:
        with translate_errors(f"opening storage {redact_url(url)}"):
            fs, root = fsspec.core.url_to_fs(url, **storage_options)
    except (ValueError, ImportError) as e:  # an unknown protocol, or its package is missing
        raise UnsupportedBackend(
            scrub_credentials(f"cannot open storage {redact_url(url)}: {e}", url)
        ) from e
    if isinstance(fs, LocalFileSystem):
        return LocalBackend(os.path.abspath(root), url)
    if isinstance(fs, MemoryFileSystem):
        root = "/" + root.lstrip("/")
    if s3 and isinstance(getattr(fs, "retries", None), int):
        fs.retries = 1  # s3fs's own loop: the backend retries, and logs, instead
    kind = FsspecBackend
    if protocol_of(fs) in S3_PROTOCOLS:
        from dagster_versioned.store._s3_backend import S3Backend

        kind = S3Backend
    backend = kind(fs, root, url, retry=retry, secret_values=secret_values(storage_options))
    if not backend.supports_exclusive_create and not single_writer:
        raise UnsupportedBackend(
            f"storage {redact_url(url)} (protocol '{backend.protocol}') cannot create files "
            "exclusively, so concurrent writers could lose commits; use local disk, memory:// or "
            "s3://, or pass single_writer=True if only one process ever writes"
        )
    return backend


def _single_attempt_botocore(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with botocore's retries turned down to one attempt, unless the user set them.

    The backend's loop retries instead: it knows the key, logs each retry and bounds the total;
    botocore's would run silently inside each of its attempts.
    """
    config = dict(options.get("config_kwargs") or {})
    if "retries" in config:
        return options
    config["retries"] = {"total_max_attempts": 1, "mode": "standard"}
    return {**options, "config_kwargs": config}


def _local_path(url: str) -> str | None:
    """The path of a plain local location (``/x``, ``./x``, ``file:///x``), else ``None``."""
    if "::" in url:
        return None
    if url.startswith("file://"):
        return url[len("file://") :]
    if "://" in url:
        return None
    return url
