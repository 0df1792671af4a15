"""Dagster names of store things: repos, branches and pipelines as asset keys and sensor names.

Dagster allows only letters, digits and ``_`` in asset-key parts and definition names, while
repo and branch names may hold ``-`` and ``.``. Every definition that names a store thing goes
through ``dagster_name``, so an asset key built by one module (a pipeline's asset) is the key
another module (a source asset, a branch sensor's selection) looks for.
"""

from __future__ import annotations

import re

_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_]")


def dagster_name(text: str) -> str:
    """``text`` with every character Dagster refuses in a name replaced by ``_``."""
    return _NOT_ALLOWED.sub("_", text)


def branch_sensor_name(repo: str, branch: str) -> str:
    """The name of the sensor that watches ``repo@branch`` (``dv_<repo>_<branch>``)."""
    return dagster_name(f"dv_{repo}_{branch}")


__all__ = ["branch_sensor_name", "dagster_name"]
