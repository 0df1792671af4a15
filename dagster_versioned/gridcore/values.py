"""Parameter values: JSON only, written one canonical way, and errors that name the key.

Every part of the grid engine compares values by their canonical JSON text (equal values,
equal text) and reports a bad value with the file and the key it came from, so these few
functions sit below the grids, cells, keys and parameters files that all use them.
"""

from __future__ import annotations

import json
import math
from typing import Any

from dagster_versioned.errors import InvalidParameters

PIPELINE_KEY = "pipeline_parameters"
"""The parameters-file key (and ``GridCell`` field) of pipeline-level parameters."""


def parameters_error(problem: str, *, key: str = "", file: str = "") -> InvalidParameters:
    """An ``InvalidParameters`` naming the file, the key and the problem (also as attributes)."""
    where = ": ".join(part for part in (file, f"key '{key}'" if key else "") if part)
    error = InvalidParameters(f"{where}: {problem}" if where else problem)
    error.file = file  # type: ignore[attr-defined]
    error.key = key  # type: ignore[attr-defined]
    error.problem = problem  # type: ignore[attr-defined]
    return error


def json_text(value: Any) -> str:
    """Canonical JSON of one value (sorted keys, compact): equal values, equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def check_json_value(value: Any, key: str, file: str = "") -> None:
    """Refuse values that are not plain JSON (sets, objects, NaN), naming the key."""
    try:
        json_text(value)
    except (TypeError, ValueError) as e:
        raise parameters_error(f"{value!r} is not a JSON value ({e})", key=key, file=file) from e
    if isinstance(value, float) and not math.isfinite(value):  # pragma: no cover - caught above
        raise parameters_error(f"{value!r} is not a JSON number", key=key, file=file)


def options_of(value: Any, key: str, file: str = "", *, strict: bool = False) -> tuple[Any, ...]:
    """The options a value stands for: a list's items, or (``strict=False``) a single value.

    ``strict`` is the parameters-file rule: every value must be a list.
    """
    if not isinstance(value, list | tuple):
        if strict:
            shown = json_text(value) if _is_json(value) else repr(value)
            raise parameters_error(
                f"the value {shown} is not a list; wrap it as [{shown}] "
                "(every value is a list of options)",
                key=key,
                file=file,
            )
        check_json_value(value, key, file)
        return (value,)
    if not value:
        raise parameters_error(
            "the list of options is empty; give at least one value (an empty list would "
            "leave the job with no runs)",
            key=key,
            file=file,
        )
    seen: set[str] = set()
    for option in value:
        check_json_value(option, key, file)
        text = json_text(option)
        if text in seen:
            raise parameters_error(f"the option {text} is listed twice", key=key, file=file)
        seen.add(text)
    return tuple(value)


def _is_json(value: Any) -> bool:
    try:
        json_text(value)
    except (TypeError, ValueError):
        return False
    return True
