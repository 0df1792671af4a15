"""Where the store lives when nobody says: one rule shared by ``dvctl``, ``dv://`` and Dagster.

``$DAGSTER_VERSIONED_STORAGE`` wins; else the nearest ``.dagster_versioned/`` directory in the
working directory or one of its parents (like git finds ``.git``); else a new
``.dagster_versioned/`` in the working directory. Every entry point resolves the default with
this one function, so ``dvctl put file`` and ``pd.read_csv("dv://…")`` run from the same
directory always see the same store.
"""

from __future__ import annotations

import os
from pathlib import Path

STORAGE_ENV = "DAGSTER_VERSIONED_STORAGE"
STORE_DIR_NAME = ".dagster_versioned"


def default_storage_url(cwd: Path | None = None) -> str:
    """The storage URL to use when none is given (see the module docstring for the rule).

    Args:
        cwd: the directory to search from; the process's working directory by default.

    Returns:
        ``$DAGSTER_VERSIONED_STORAGE`` verbatim when set and non-empty, else the absolute path of
        the nearest existing ``.dagster_versioned`` directory, else ``<cwd>/.dagster_versioned``
        (not created here: ``Store.open`` creates it on first use).
    """
    env = os.environ.get(STORAGE_ENV, "").strip()
    if env:
        return env
    start = (cwd if cwd is not None else Path.cwd()).resolve()
    for directory in (start, *start.parents):
        candidate = directory / STORE_DIR_NAME
        if candidate.is_dir():
            return str(candidate)
    return str(start / STORE_DIR_NAME)
