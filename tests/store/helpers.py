"""Helpers of the store tests: count objects, spy on backend calls, inject backend failures."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from dagster_versioned.store import Store


def object_keys(store: Store) -> set[str]:
    """Every key under ``objects/`` and ``packs/`` (loose file chunks and tree nodes, and packs
    of small objects), read fresh from the backend: whatever a write stored shows up here."""
    fs = store.backend.fs
    keys: set[str] = set()
    for folder in ("objects", "packs"):
        root = store.backend.path(folder)
        fs.invalidate_cache(root)
        try:
            found = fs.find(root)
        except FileNotFoundError:
            continue
        keys.update(str(p) for p in found if ".tmp-" not in str(p))
    return keys


class CallCounter:
    """Counts calls to chosen backend methods of one store (a spy on the real backend)."""

    def __init__(self, store: Store, methods: tuple[str, ...]) -> None:
        self.calls: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._store = store
        self._methods = methods
        self.active = False
        for name in methods:
            setattr(store.backend, name, self._wrap(name, getattr(store.backend, name)))

    def _wrap(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def counted(key: str, *args: Any, **kwargs: Any) -> Any:
            if self.active:
                with self._lock:
                    self.calls.append((name, key))
            return method(key, *args, **kwargs)

        return counted

    def restore(self) -> None:
        for name in self._methods:
            delattr(self._store.backend, name)


class FailingWrites:
    """Makes the store's backend ``write``/``create`` raise ``OSError`` after ``n`` calls.

    A test double of the filesystem failing (disk full, connection reset) mid-commit; the key
    that failed is kept in ``failed_key`` so a test can tell which step of the commit broke.
    """

    def __init__(self, store: Store, n: int) -> None:
        self.remaining = n
        self.failed_key: str | None = None
        self._lock = threading.Lock()
        self._store = store
        for name in ("write", "create"):
            setattr(store.backend, name, self._wrap(getattr(store.backend, name)))

    def _wrap(self, method: Callable[..., Any]) -> Callable[..., Any]:
        def failing(key: str, *args: Any, **kwargs: Any) -> Any:
            with self._lock:
                if self.remaining <= 0:
                    self.failed_key = self.failed_key or key
                    raise OSError(28, "No space left on device (injected)", key)
                self.remaining -= 1
            return method(key, *args, **kwargs)

        return failing

    def restore(self) -> None:
        for name in ("write", "create"):
            delattr(self._store.backend, name)
