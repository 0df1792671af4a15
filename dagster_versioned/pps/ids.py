"""The engine's ids, as types: a job id and a datum id are both hex strings, and easily swapped.

A job is named by its global id (``<pipeline>@<id>``: also its output commit's id and its
Dagster run's tag); a datum by the hash of which input paths it holds (``datums.py``). Passing
one where the other is meant reads the wrong records without an error, so signatures say which
they take, the way dulwich keeps its hex and raw object ids apart. Both are ``str`` at run
time: wrapping costs nothing and stored records are read unchanged.
"""

from __future__ import annotations

from typing import NewType

JobId = NewType("JobId", str)
"""A global job id: the id shared by every pipeline's job started by one commit (or run)."""
DatumId = NewType("DatumId", str)
"""A datum's id: 32 hex digits naming its input paths (content-free, so the next job matches)."""

__all__ = ["DatumId", "JobId"]
