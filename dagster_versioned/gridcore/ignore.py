"""The project's top-level ``.gitignore``, applied when a snapshot is taken.

Git's rules (``gitignore(5)`` and git's ``wildmatch.c``), for one ignore file at the project
root: blank lines and ``#`` comments are skipped (``\\#`` is a literal ``#``); trailing spaces
are dropped unless escaped with ``\\``; ``!`` re-includes (``\\!`` is a literal ``!``); a pattern
with a ``/`` before its end is anchored at the root, one without matches a name at any depth; a
trailing ``/`` matches directories only; ``*``, ``?`` and ``[...]`` (ranges, ``!``/``^``
negation, ``[:alpha:]`` classes) never match ``/``; ``**`` spans directories only as a whole
path component (``**/x``, ``x/**``, ``a/**/b``), elsewhere it is a plain ``*``. A pattern git
cannot parse (an unclosed ``[``, a trailing ``\\``, an unknown ``[:class:]``) matches nothing,
as in git. As in git, a file inside an ignored directory cannot be re-included: the walk never
enters that directory.

Why not ``pathspec`` (compared on one table in ``tests/grids/test_ignore.py``, each row checked
against git itself): pathspec's ``GitIgnoreSpec`` decides a path alone, so ``dir/`` then
``!dir/keep`` keeps ``dir/keep``, which git never does; it ignores every file under
``foo/**/``, where git keeps ``foo/x``; it raises on lines git accepts (``!``, ``\\``); and it
has no ``[:alpha:]``. We would need our walk around it anyway (git's rule about ignored
directories is a property of the walk), and the grid core stays free of a runtime dependency.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

_POSIX_CLASSES = {
    "alnum": "a-zA-Z0-9",
    "alpha": "a-zA-Z",
    "blank": " \\t",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "".join(re.escape(c) for c in string.punctuation),
    "space": " \\t\\n\\r\\f\\v",
    "upper": "A-Z",
    "xdigit": "0-9A-Fa-f",
}
"""The ``[:name:]`` classes git's wildmatch knows, as regex class bodies (ASCII, as git)."""


@dataclass(frozen=True, slots=True)
class _Rule:
    regex: re.Pattern[str]
    negated: bool
    dir_only: bool


class _Unmatchable(Exception):
    """A pattern git's wildmatch aborts on: it matches nothing."""


def _bracket(pattern: str, start: int) -> tuple[str, int]:
    """The regex for the ``[...]`` at ``start`` and the index after it (git's rules: a ``]``
    first is literal, ``\\`` escapes, ``a-z`` ranges, ``[:class:]``; never matches ``/``)."""
    i, n = start + 1, len(pattern)
    negated = i < n and pattern[i] in "!^"
    i += negated
    parts: list[str] = []
    prev: str | None = None  # the last literal, which a following '-' makes a range start
    first = True
    while True:
        if i >= n:
            raise _Unmatchable
        c = pattern[i]
        if c == "]" and not first:
            break
        first = False
        if c == "\\":
            i += 1
            if i >= n:
                raise _Unmatchable
            c = pattern[i]
        elif c == "-" and prev is not None and i + 1 < n and pattern[i + 1] != "]":
            i += 1
            hi = pattern[i]
            if hi == "\\":
                i += 1
                if i >= n:
                    raise _Unmatchable
                hi = pattern[i]
            if prev <= hi:
                parts.append(f"{re.escape(prev)}-{re.escape(hi)}")
            prev = None
            i += 1
            continue
        elif c == "[" and pattern.startswith("[:", i):
            close = pattern.find("]", i + 2)
            if close == -1:
                raise _Unmatchable
            if pattern[close - 1] == ":" and close - 1 >= i + 2:
                name = pattern[i + 2 : close - 1]
                if name not in _POSIX_CLASSES:
                    raise _Unmatchable
                parts.append(_POSIX_CLASSES[name])
                prev = None
                i = close + 1
                continue
            # no ':]' before the ']': the '[' is a plain character
        parts.append(re.escape(c))
        prev = c
        i += 1
    body = "".join(parts)
    regex = f"[^{body}/]" if negated else f"(?!/)[{body}]"
    return regex, i + 1


def _translate(pattern: str) -> str:
    """The regex body for one wildmatch pattern (``_Unmatchable`` if git cannot parse it)."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            j = i
            while j < n and pattern[j] == "*":
                j += 1
            whole_component = (i == 0 or pattern[i - 1] == "/") and (j == n or pattern[j] == "/")
            if j - i >= 2 and whole_component:
                if j == n:
                    out.append(".*")  # 'x/**': everything below; '**' alone: everything
                else:
                    out.append("(?:.*/)?")  # '**/': zero or more directories
                    j += 1
            else:
                out.append("[^/]*")
            i = j
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            regex, i = _bracket(pattern, i)
            out.append(regex)
        elif c == "\\":
            if i + 1 == n:
                raise _Unmatchable
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


def _trim_trailing_spaces(text: str) -> str:
    """Drop trailing spaces not escaped by ``\\`` (git's ``trim_trailing_spaces``; tabs stay)."""
    last_space: int | None = None
    i = 0
    while i < len(text):
        if text[i] == " ":
            if last_space is None:
                last_space = i
        elif text[i] == "\\":
            i += 1
            if i == len(text):
                return text
            last_space = None
        else:
            last_space = None
        i += 1
    return text if last_space is None else text[:last_space]


def _rule(line: str) -> _Rule | None:
    text = line.removesuffix("\n").removesuffix("\r")
    if text.startswith("#"):
        return None
    text = _trim_trailing_spaces(text)
    negated = text.startswith("!")
    if negated:
        text = text[1:]
    dir_only = text.endswith("/")
    if dir_only:
        text = text[:-1]
    if not text:
        return None
    anchored = "/" in text
    try:
        body = _translate(text.removeprefix("/") if anchored else text)
    except _Unmatchable:
        return None
    regex = f"^{body}$" if anchored else f"^(?:.*/)?{body}$"
    return _Rule(re.compile(regex, re.DOTALL), negated, dir_only)


class IgnoreRules:
    """Compiled ignore patterns; ``ignored(path, is_dir)`` takes root-relative POSIX paths."""

    def __init__(self, lines: Iterable[str] = ()) -> None:
        self._rules = [r for r in (_rule(line) for line in lines) if r is not None]

    @classmethod
    def from_project(cls, project_dir: Path) -> IgnoreRules:
        """The rules of ``project_dir/.gitignore`` (none if it is missing).

        Lines are split on ``\\n`` only, as git splits them (``splitlines`` would also split
        on form feeds and other characters a pattern may hold); a UTF-8 byte order mark is
        skipped, as git skips it.
        """
        path = project_dir / ".gitignore"
        if not path.is_file():
            return cls()
        text = path.read_text(encoding="utf-8", errors="replace").removeprefix("\ufeff")
        return cls(text.split("\n"))

    def ignored(self, path: str, is_dir: bool) -> bool:
        """Whether the last rule matching ``path`` ignores it (``False`` if none matches)."""
        result = False
        for rule in self._rules:
            if rule.dir_only and not is_dir:
                continue
            if rule.regex.match(path):
                result = not rule.negated
        return result


def walk_project(
    root: Path, rules: IgnoreRules, skip: Iterable[Path] = (), skip_names: Iterable[str] = ()
) -> Iterator[str]:
    """Root-relative POSIX paths of the files to snapshot, sorted, pruning ignored directories.

    ``skip`` holds absolute directories left out whatever the rules say (the store, the
    checkouts); ``skip_names`` holds names left out at any depth (``.git``, ``__pycache__``).
    Symlinks are not followed, so a link cannot pull files from outside the project in.
    """
    skipped = {os.path.realpath(p) for p in skip}
    names = set(skip_names)
    root_real = os.path.realpath(root)
    for current, dirs, files in os.walk(root_real):
        rel_dir = os.path.relpath(current, root_real)
        rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/")
        keep = []
        for d in sorted(dirs):
            full = os.path.join(current, d)
            rel = f"{rel_dir}/{d}" if rel_dir else d
            if d in names or full in skipped or os.path.islink(full) or rules.ignored(rel, True):
                continue
            keep.append(d)
        dirs[:] = keep
        for f in sorted(files):
            full = os.path.join(current, f)
            rel = f"{rel_dir}/{f}" if rel_dir else f
            if f in names or os.path.islink(full) or rules.ignored(rel, False):
                continue
            yield rel
