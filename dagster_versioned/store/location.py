"""Where the store lives when nobody says: one rule shared by ``dvctl``, ``dv://`` and Dagster.

``$DAGSTER_VERSIONED_STORAGE`` wins; else the nearest ``.dagster_versioned/`` directory in the
working directory or one of its parents (like git finds ``.git``); else a new
``.dagster_versioned/`` in the working directory. Every entry point resolves the default with
this one function, so ``dvctl put file`` and ``pd.read_csv("dv://…")`` run from the same
directory always see the same store.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

STORAGE_ENV = "DAGSTER_VERSIONED_STORAGE"
STORE_DIR_NAME = ".dagster_versioned"


@dataclass(frozen=True, slots=True)
class Location:
    """The storage URL chosen when none is given, and which rule chose it."""

    url: str
    source: Literal["environment", "nearest", "new"]
    """``environment``: ``$DAGSTER_VERSIONED_STORAGE``; ``nearest``: an existing
    ``.dagster_versioned`` here or in a parent; ``new``: none found, one here would be made."""


def default_location(cwd: Path | None = None) -> Location:
    """The storage to use when none is given, and why (see the module docstring for the rule).

    Args:
        cwd: the directory to search from; the process's working directory by default.
    """
    env = os.environ.get(STORAGE_ENV, "").strip()
    if env:
        return Location(env, "environment")
    start = (cwd if cwd is not None else Path.cwd()).resolve()
    for directory in (start, *start.parents):
        candidate = directory / STORE_DIR_NAME
        if candidate.is_dir():
            return Location(str(candidate), "nearest")
    return Location(str(start / STORE_DIR_NAME), "new")


def default_storage_url(cwd: Path | None = None) -> str:
    """The storage URL to use when none is given (see the module docstring for the rule).

    Args:
        cwd: the directory to search from; the process's working directory by default.

    Returns:
        ``$DAGSTER_VERSIONED_STORAGE`` verbatim when set and non-empty, else the absolute path of
        the nearest existing ``.dagster_versioned`` directory, else ``<cwd>/.dagster_versioned``
        (not created here: ``Store.open`` creates it on first use).
    """
    return default_location(cwd).url
