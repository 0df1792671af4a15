"""The project's top-level ``.gitignore``, applied when a snapshot is taken.

Git's pattern rules, for one ignore file at the project root: blank lines and ``#`` comments
are skipped; ``!`` re-includes; a pattern with a ``/`` before its end is anchored at the root,
one without matches at any depth; a trailing ``/`` matches directories only; ``*`` and ``?``
stop at ``/``; ``**`` spans directories. As in git, a file inside an ignored directory cannot be
re-included (the walk never enters that directory).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class _Rule:
    regex: re.Pattern[str]
    negated: bool
    dir_only: bool


def _translate(pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("/**", i) and i + 3 == len(pattern):
            out.append("/.*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 2 :]:
            end = pattern.index("]", i + 2)
            body = pattern[i + 1 : end]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append(f"[{body.replace(chr(92), chr(92) * 2)}]")
            i = end + 1
        elif pattern[i] == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


def _rule(line: str) -> _Rule | None:
    text = line.rstrip("\n").rstrip("\r")
    text = text[:-2].rstrip() + " " if text.endswith("\\ ") else text.rstrip()
    if not text or text.startswith("#"):
        return None
    negated = text.startswith("!")
    if negated or text.startswith("\\!") or text.startswith("\\#"):
        text = text[1:]
    dir_only = text.endswith("/")
    text = text.rstrip("/")
    if not text:
        return None
    anchored = "/" in text
    body = _translate(text.lstrip("/"))
    regex = f"^{body}$" if anchored else f"^(?:.*/)?{body}$"
    return _Rule(re.compile(regex, re.DOTALL), negated, dir_only)


class IgnoreRules:
    """Compiled ignore patterns; ``ignored(path, is_dir)`` takes root-relative POSIX paths."""

    def __init__(self, lines: Iterable[str] = ()) -> None:
        self._rules = [r for r in (_rule(line) for line in lines) if r is not None]

    @classmethod
    def from_project(cls, project_dir: Path) -> IgnoreRules:
        path = project_dir / ".gitignore"
        if not path.is_file():
            return cls()
        return cls(path.read_text(encoding="utf-8", errors="replace").splitlines())

    def ignored(self, path: str, is_dir: bool) -> bool:
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
