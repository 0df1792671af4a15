"""``VersionedStoreResource``: a Dagster resource that hands assets and sensors a :class:`Store`."""

from __future__ import annotations

from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr

from dagster_versioned.store.location import default_storage_url
from dagster_versioned.store.store import Store

STORAGE_DESCRIPTION = (
    "Store root: a path, file://, s3://bucket/prefix or memory:// URL. Empty: "
    "$DAGSTER_VERSIONED_STORAGE, else the nearest .dagster_versioned/ directory (as dvctl)."
)
STORAGE_OPTIONS_DESCRIPTION = (
    "Options for the fsspec backend, e.g. {'client_kwargs': {'endpoint_url': ...}} for S3."
)


def resolve_storage(storage: str | None) -> str:
    """``storage`` itself, or the dvctl default when it is empty."""
    return storage or default_storage_url()


def open_store(storage: str | None, storage_options: dict[str, Any] | None = None) -> Store:
    """Open the store at ``storage`` (or the default location) with backend options."""
    return Store.open(resolve_storage(storage), **dict(storage_options or {}))


class VersionedStoreResource(dg.ConfigurableResource):  # type: ignore[misc]
    """A :class:`Store` for asset bodies, sensors and schedules.

    The store is opened once per resource instance (per run, per process) and cached, so an asset
    that reads many files pays for opening the storage once.

    Example::

        @dg.asset
        def report(dv: VersionedStoreResource) -> None:
            dv.store.put_file("reports@master:/today.txt", b"...")

        defs = dg.Definitions(
            assets=[report], resources={"dv": VersionedStoreResource(storage="s3://bucket/dv")}
        )
    """

    storage: str | None = Field(default=None, description=STORAGE_DESCRIPTION)
    storage_options: dict[str, Any] = Field(
        default_factory=dict, description=STORAGE_OPTIONS_DESCRIPTION
    )
    _store: Store | None = PrivateAttr(default=None)

    @property
    def url(self) -> str:
        """The resolved storage URL (the default location when ``storage`` is empty)."""
        return resolve_storage(self.storage)

    @property
    def store(self) -> Store:
        """The opened store, cached on this resource instance."""
        if self._store is None:
            self._store = open_store(self.storage, self.storage_options)
        return self._store
