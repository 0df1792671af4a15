"""Pachyderm's glob patterns over commit paths.

``*`` matches within one path segment, ``**`` across segments, ``?`` one character,
``[abc]``/``[!abc]`` a class, ``{a,b}`` alternatives, and ``( … )`` a capture group that
``join_on``/``group_by`` refer to as ``$1``, ``$2``. Patterns match files and directories
alike; ``/`` alone matches the root (one datum holding the whole repo).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dagster_versioned.errors import InvalidArgument

_GLOB_CHARS = set("*?[{(")


@dataclass(frozen=True, slots=True)
class Glob:
    """A compiled glob pattern."""

    pattern: str
    regex: re.Pattern[str]
    prefix: str
    """The longest directory prefix with no glob character: the walk starts there."""
    prefix_depth: int
    max_depth: int | None
    """Deepest path (in segments) the pattern can match; ``None`` with ``**``."""

    @property
    def matches_root(self) -> bool:
        return self.pattern == "/"

    def match(self, path: str) -> bool:
        return self.regex.fullmatch(path) is not None

    def groups(self, path: str) -> tuple[str, ...]:
        """Capture groups of a match (for ``$1``-style templates); ``()`` if none."""
        m = self.regex.fullmatch(path)
        return tuple(g or "" for g in m.groups()) if m else ()


def compile_glob(pattern: str) -> Glob:
    if not isinstance(pattern, str):
        raise InvalidArgument(f"invalid glob {pattern!r}: expected a string like '/*'")
    text = "/" + pattern.strip().lstrip("/") if pattern.strip() else "/"
    if len(text) > 1:
        text = text.rstrip("/") or "/"
    segments = [] if text == "/" else text[1:].split("/")
    literal: list[str] = []
    for seg in segments:
        if any(c in _GLOB_CHARS for c in seg):
            break
        literal.append(seg)
    if len(literal) == len(segments) and literal:
        literal = literal[:-1]  # a fully literal pattern still matches its last segment
    prefix = "/" + "/".join(literal) if literal else "/"
    max_depth = None if "**" in text else len(segments)
    return Glob(text, _translate(text, pattern), prefix, len(literal), max_depth)


def _translate(text: str, original: str) -> re.Pattern[str]:
    out: list[str] = []
    i, depth_brace, depth_paren = 0, 0, 0
    while i < len(text):
        c = text[i]
        if c == "*":
            if text.startswith("**", i):
                out.append(".*")
                i += 2
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = text.find("]", i + 2)
            if end == -1:
                raise InvalidArgument(f"invalid glob {original!r}: '[' without a closing ']'")
            body = text[i + 1 : end]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end + 1
            continue
        elif c == "{":
            depth_brace += 1
            out.append("(?:")
        elif c == "}" and depth_brace:
            depth_brace -= 1
            out.append(")")
        elif c == "," and depth_brace:
            out.append("|")
        elif c == "(":
            depth_paren += 1
            out.append("(")
        elif c == ")" and depth_paren:
            depth_paren -= 1
            out.append(")")
        else:
            out.append(re.escape(c))
        i += 1
    if depth_brace or depth_paren:
        raise InvalidArgument(f"invalid glob {original!r}: unbalanced '{{' or '('")
    try:
        return re.compile("".join(out))
    except re.error as e:
        raise InvalidArgument(f"invalid glob {original!r}: {e}") from e
