"""dagster-versioned: data versioning and parameterised jobs for Dagster, on any fsspec storage.

The store names are imported eagerly; everything that needs Dagster is imported on first use
(``__getattr__``), so ``dvctl`` and other store-only users never pay for importing Dagster.
"""

from __future__ import annotations

import importlib
from typing import Any

from dagster_versioned.errors import VersionedError
from dagster_versioned.store import (
    BranchInfo,
    Commit,
    CommitId,
    CommitRef,
    FileDiff,
    FileInfo,
    Origin,
    RepoInfo,
    Store,
    Trigger,
)

# name → module that defines it; filled in as the Dagster glue lands.
_LAZY: dict[str, str] = {}

__all__ = [
    "BranchInfo",
    "Commit",
    "CommitId",
    "CommitRef",
    "FileDiff",
    "FileInfo",
    "Origin",
    "RepoInfo",
    "Store",
    "Trigger",
    "VersionedError",
    *sorted(_LAZY),
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dagster_versioned' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
