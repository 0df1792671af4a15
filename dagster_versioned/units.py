"""Human sizes and durations exactly as docker/go-units prints them (and so pachctl).

Shared by dvctl's tables and the Dagster UI metadata of pipelines; no dependency of its own.
"""

from __future__ import annotations

_BINARY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def bytes_size(size: float) -> str:
    """go-units ``BytesSize``: binary units, 4 significant digits (``0B``, ``57.27KiB``)."""
    value = float(size)
    unit = 0
    while value >= 1024.0 and unit < len(_BINARY_UNITS) - 1:
        value /= 1024.0
        unit += 1
    return f"{value:.4g}{_BINARY_UNITS[unit]}"


def human_duration(seconds: float) -> str:
    """go-units ``HumanDuration`` (``Less than a second``, ``About a minute``, ``3 days``)."""
    secs = int(seconds)
    if secs < 1:
        return "Less than a second"
    if secs == 1:
        return "1 second"
    if secs < 60:
        return f"{secs} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"
