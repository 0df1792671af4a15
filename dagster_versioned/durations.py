"""The one parser of durations: gc ``--grace``, trigger ``@every``, ``job_timeout`` and
``datum_timeout``.

Pachyderm writes durations in Go's ``time.ParseDuration`` grammar (``1h30m``, ``300ms``,
``1.5h``), so specs and commands copied from it must mean the same here; one parser keeps every
field agreeing on what ``90s`` or ``.5h`` means, and on the words of its error. The grammar is
Go's, with two additions: the unit ``d`` (24 hours, which ``gc --grace 2d`` has always
accepted) and, where a caller asks for it, a bare number of seconds (``--grace 90``). Go's sign
is parsed, but nothing here waits a negative time, so a negative duration is refused (``-0`` is
0). Go refuses a duration above 2^63 nanoseconds (about 292 years); so do we, which also keeps
every result a finite float that ``timedelta`` accepts. Spaces around the value are ignored
(Go refuses them) because YAML and shell quoting add them; spaces inside are an error, as in Go,
and so are exponents (``1e3s``: Go reads ``e`` as an unknown unit).

Numbers (``int`` or ``float``, not ``bool``) are seconds, as Pachyderm's JSON specs and our
Python API have always taken them.
"""

from __future__ import annotations

import math
import re

from dagster_versioned.errors import InvalidDuration

__all__ = ["UNITS", "parse_duration"]

UNITS: dict[str, float] = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,  # U+00B5 MICRO SIGN, as Go
    "μs": 1e-6,  # U+03BC GREEK SMALL LETTER MU, as Go
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}
"""Seconds in one of each unit a duration may use."""

_MAX_SECONDS = (2**63 - 1) / 1e9
"""Go's ``time.Duration`` is an int64 of nanoseconds."""

_COMPONENT = re.compile(r"([0-9]*)(?:\.([0-9]*))?([^0-9.]*)")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_FORMS = (
    "use a duration like '90s', '1h30m', '1.5h', '300ms' or '2d' (units ns, us, ms, s, m, h, d)"
)


def parse_duration(
    value: str | int | float, what: str, *, positive: bool = False, unitless: bool = False
) -> float:
    """Seconds in ``value``; ``InvalidDuration`` naming ``what`` and ``value`` otherwise.

    ``what`` names the setting in the error (``"--grace"``, ``"field 'job_timeout'"``), so a
    user knows which of several durations to fix. ``positive`` refuses 0, for settings where 0
    would mean "at once, forever" (an ``@every`` interval); ``unitless`` takes a bare number in
    a string as seconds, as ``dvctl gc --grace 90`` does.
    """
    forms = _forms(unitless, positive)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidDuration(f"invalid {what} {value!r}: {forms}")
    if isinstance(value, str):
        seconds = _parse_text(value, what, unitless, forms)
    else:
        seconds = float(value)
        if math.isnan(seconds):
            raise InvalidDuration(f"invalid {what} {value!r}: {forms}")
    if seconds < 0:
        raise InvalidDuration(f"invalid {what} {value!r}: a duration must not be negative; {forms}")
    if seconds > _MAX_SECONDS:
        raise InvalidDuration(
            f"invalid {what} {value!r}: longer than the longest duration "
            f"(2^63 nanoseconds, about 292 years); {forms}"
        )
    if positive and seconds == 0:
        raise InvalidDuration(
            f"invalid {what} {value!r}: the duration must be greater than 0; {forms}"
        )
    return seconds + 0.0  # -0.0 becomes 0.0


def _parse_text(value: str, what: str, unitless: bool, forms: str) -> float:
    """Go's ``time.ParseDuration``, in seconds, plus ``d``; a bare number too if ``unitless``."""
    text = value.strip()
    if unitless and _NUMBER.fullmatch(text):
        return float(text)
    body = text[1:] if text[:1] in ("+", "-") else text
    sign = -1.0 if text[:1] == "-" else 1.0
    if body == "0":
        return sign * 0.0
    if not body:
        raise InvalidDuration(f"invalid {what} {value!r}: {forms}")
    total, pos = 0.0, 0
    while pos < len(body):
        m = _COMPONENT.match(body, pos)
        assert m is not None  # every group may be empty, so the pattern always matches
        whole, frac, unit = m.group(1), m.group(2), m.group(3)
        if not whole and not frac:
            raise InvalidDuration(f"invalid {what} {value!r}: {forms}")
        if not unit:
            raise InvalidDuration(
                f"invalid {what} {value!r}: missing unit after '{body[pos : m.end()]}'; {forms}"
            )
        if unit not in UNITS:
            raise InvalidDuration(f"invalid {what} {value!r}: unknown unit '{unit}'; {forms}")
        total += float(f"{whole or 0}.{frac or 0}") * UNITS[unit]
        pos = m.end()
    return sign * total


def _forms(unitless: bool, positive: bool) -> str:
    """The valid forms, as the error after a bad value names them."""
    if unitless:
        return f"{_FORMS}, or a number of seconds"
    return _FORMS if positive else f"{_FORMS}, or 0"
