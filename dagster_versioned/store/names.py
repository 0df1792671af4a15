"""Names, paths and refs: what a user may type, checked before anything is written.

Ref syntax follows pachctl: ``repo@branch``, ``repo@<commit id>``, ancestry suffixes
``^`` / ``^^`` / ``^N`` / ``~N`` (N-th ancestor) and ``.N`` (N-th commit from the start of the
branch), and a path after ``:``. A branch may never look like a commit id, so a ref is never
ambiguous.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from dagster_versioned.errors import InvalidName, InvalidPath, InvalidRef

_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_COMMIT_ID_RE = re.compile(r"^[0-9a-f]{32}$")
MAX_NAME_LENGTH = 63
MAX_PATH_LENGTH = 4096
MAX_SEGMENT_BYTES = 255
_BAD_PATH_CHAR = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


def is_commit_id(text: str) -> bool:
    return bool(_COMMIT_ID_RE.match(text))


def validate_repo_name(name: str) -> str:
    return _validate_name(name, "repo")


def validate_branch_name(name: str) -> str:
    _validate_name(name, "branch")
    if is_commit_id(name):
        raise InvalidName(
            f"invalid branch name '{name}': 32 hex digits would read as a commit id; "
            "choose a name that is not a commit id"
        )
    return name


def _validate_name(name: str, kind: str) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidName(f"invalid {kind} name {name!r}: it must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidName(
            f"invalid {kind} name '{name[:20]}…': {len(name)} characters, at most "
            f"{MAX_NAME_LENGTH} allowed"
        )
    if not _NAME_RE.match(name):
        raise InvalidName(f"invalid {kind} name {name!r}: use only letters, digits, '_' and '-'")
    return name


def normalize_path(path: str) -> str:
    """Return the canonical form ``/a/b`` of a file path inside a commit (``/`` for the root).

    A trailing ``/`` is dropped, text is NFC-normalised (so two spellings of "é" are one file),
    and ``.``/``..`` segments, empty segments and control characters are refused: a path can
    never name something outside its commit.
    """
    if not isinstance(path, str):
        raise InvalidPath(f"invalid path {path!r}: expected a string")
    if len(path) > MAX_PATH_LENGTH:
        raise InvalidPath(f"invalid path '{path[:40]}…': longer than {MAX_PATH_LENGTH} characters")
    text = path if path.isascii() else unicodedata.normalize("NFC", path)
    # One regex scan instead of a Python loop per character: a 10,000-file put calls this
    # for every file. The loop below only runs to name the offending character.
    for ch in text if _BAD_PATH_CHAR.search(text) else ():
        if ord(ch) < 32 or ord(ch) == 127:
            raise InvalidPath(f"invalid path {path!r}: control character {ch!r} is not allowed")
        if 0xD800 <= ord(ch) <= 0xDFFF:  # e.g. a non-UTF-8 file name decoded by os.fsdecode
            raise InvalidPath(f"invalid path {path!r}: {ch!r} is not valid Unicode text")
    if "\\" in text:
        raise InvalidPath(f"invalid path {path!r}: use '/' as the separator, not '\\'")
    body = text.removeprefix("/").rstrip("/") if text not in ("", "/") else ""  # "//a": empty
    if not body:
        return "/"
    segments = body.split("/")
    for seg in segments:
        if seg == "":
            raise InvalidPath(f"invalid path {path!r}: empty path segment ('//')")
        if seg in (".", ".."):
            raise InvalidPath(f"invalid path {path!r}: '{seg}' segments are not allowed")
        if len(seg.encode()) > MAX_SEGMENT_BYTES:
            raise InvalidPath(
                f"invalid path {path!r}: segment longer than {MAX_SEGMENT_BYTES} bytes"
            )
    return "/" + "/".join(segments)


def path_segments(path: str) -> list[str]:
    return [] if path == "/" else path[1:].split("/")


def join_path(parent: str, name: str) -> str:
    return f"/{name}" if parent == "/" else f"{parent}/{name}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Ref:
    """A parsed ``repo@base<ancestry>[:path]``."""

    repo: str
    """The repo name."""
    base: str | None
    """A branch name or commit id; ``None`` when only the repo was given."""
    ancestors: int = 0
    """How many parents to walk back from ``base`` (``^N``)."""
    nth: int | None = None
    """``.N``: the N-th commit from the start of the branch (1-based), instead of ancestors."""
    path: str | None = None
    """The normalised path after ``:``, if any."""

    @property
    def is_commit(self) -> bool:
        return self.base is not None and is_commit_id(self.base)

    @property
    def branch(self) -> str | None:
        return None if self.base is None or self.is_commit else self.base

    def __str__(self) -> str:
        text = self.repo
        if self.base is not None:
            text += f"@{self.base}"
            if self.ancestors:
                text += f"^{self.ancestors}"
            if self.nth is not None:
                text += f".{self.nth}"
        if self.path is not None:
            text += f":{self.path}"
        return text

    def without_path(self) -> Ref:
        return Ref(repo=self.repo, base=self.base, ancestors=self.ancestors, nth=self.nth)

    @property
    def rev(self) -> RevRef | None:
        """The commit this ref names, or ``None`` when it names only a repo."""
        if self.base is None:
            return None
        return RevRef(repo=self.repo, base=self.base, ancestors=self.ancestors, nth=self.nth)


@dataclass(frozen=True, slots=True, kw_only=True)
class BranchRef:
    """``repo@branch``: what branch operations and commits are addressed to."""

    repo: str
    branch: str

    def __str__(self) -> str:
        return f"{self.repo}@{self.branch}"


@dataclass(frozen=True, slots=True, kw_only=True)
class PathRef:
    """``repo@branch:/path``: where a write goes (a branch, never a commit or an ancestor)."""

    repo: str
    branch: str
    path: str
    """Normalised, ``/`` for the root."""

    @property
    def branch_ref(self) -> BranchRef:
        return BranchRef(repo=self.repo, branch=self.branch)

    def __str__(self) -> str:
        return f"{self.repo}@{self.branch}:{self.path}"


@dataclass(frozen=True, slots=True, kw_only=True)
class RevRef:
    """``repo@<branch or commit id><ancestry>``: a ref that names exactly one commit."""

    repo: str
    base: str
    """A branch name or a commit id."""
    ancestors: int = 0
    nth: int | None = None

    @property
    def is_commit(self) -> bool:
        return is_commit_id(self.base)

    @property
    def branch(self) -> str | None:
        """The branch named, or ``None`` when ``base`` is a commit id."""
        return None if self.is_commit else self.base

    @property
    def has_ancestry(self) -> bool:
        return bool(self.ancestors) or self.nth is not None

    def __str__(self) -> str:
        return str(Ref(repo=self.repo, base=self.base, ancestors=self.ancestors, nth=self.nth))


@dataclass(frozen=True, slots=True, kw_only=True)
class FileRef:
    """``repo@<commit>[:/path]``: a file or directory in one commit (``/`` without a path)."""

    rev: RevRef
    path: str

    @property
    def repo(self) -> str:
        return self.rev.repo

    def __str__(self) -> str:
        return f"{self.rev}:{self.path}"


_ANCESTRY_RE = re.compile(r"^(?P<base>[^\^~.]+)(?P<suffix>[\^~.].*)?$")


def parse_ref(text: str, *, allow_path: bool = True) -> Ref:
    """Parse a pachctl-style ref; raises ``InvalidRef`` naming what is wrong."""
    if not isinstance(text, str) or not text:
        raise InvalidRef(f"invalid ref {text!r}: expected repo@branch or repo@<commit id>")
    head, colon, path_text = text.partition(":")
    path: str | None = None
    if colon:
        if not allow_path:
            raise InvalidRef(f"invalid ref '{text}': a path is not allowed here")
        path = normalize_path(path_text or "/")
    repo, at, rest = head.partition("@")
    try:
        validate_repo_name(repo)
    except InvalidName as e:
        raise InvalidRef(f"invalid ref '{text}': {e}") from e
    if not at:
        return Ref(repo=repo, base=None, path=path)
    if not rest:
        raise InvalidRef(f"invalid ref '{text}': nothing after '@'; expected a branch or commit id")
    m = _ANCESTRY_RE.match(rest)
    if not m:
        raise InvalidRef(f"invalid ref '{text}': expected a branch or commit id after '@'")
    base = m.group("base")
    if not is_commit_id(base):
        try:
            validate_branch_name(base)
        except InvalidName as e:
            raise InvalidRef(f"invalid ref '{text}': {e}") from e
    ancestors, nth = _parse_ancestry(m.group("suffix") or "", text)
    return Ref(repo=repo, base=base, ancestors=ancestors, nth=nth, path=path)


def _parse_ancestry(suffix: str, text: str) -> tuple[int, int | None]:
    if not suffix:
        return 0, None
    if suffix[0] == ".":
        number = suffix[1:]
        if not number.isdigit() or int(number) < 1:
            raise InvalidRef(f"invalid ref '{text}': '.N' needs a number N ≥ 1")
        return 0, int(number)
    if "^" in suffix and "~" in suffix:
        raise InvalidRef(f'invalid ancestry syntax "{text}", cannot mix ^ and ~ characters')
    sep = suffix[0]
    if set(suffix) == {sep}:
        return len(suffix), None
    number = suffix[1:]
    if not number.isdigit():
        raise InvalidRef(
            f"invalid ref '{text}': ancestry must be '{sep}', '{sep * 2}' … or '{sep}N' "
            "with a whole number N"
        )
    return int(number), None


def parse_branch_ref(text: str) -> BranchRef:
    """``repo@branch`` exactly: no path, no commit id, no ancestry."""
    parsed = parse_ref(text, allow_path=False)
    if parsed.branch is None or parsed.ancestors or parsed.nth is not None:
        raise InvalidRef(
            f"invalid ref '{text}': expected repo@branch, like {parsed.repo}@master "
            "(not a commit id or an ancestor)"
        )
    return BranchRef(repo=parsed.repo, branch=parsed.branch)


def parse_rev_ref(text: str, *, allow_path: bool = True) -> RevRef:
    """The commit ``repo@<branch or id><ancestry>[:path]`` names (any path is dropped)."""
    return _rev_of(parse_ref(text, allow_path=allow_path), text)


def parse_file_ref(text: str) -> FileRef:
    """A path in one commit: ``repo@<branch or id><ancestry>[:path]``, ``/`` by default."""
    parsed = parse_ref(text)
    return FileRef(rev=_rev_of(parsed, text), path=parsed.path or "/")


def _rev_of(parsed: Ref, text: str) -> RevRef:
    rev = parsed.rev
    if rev is None:
        raise InvalidRef(
            f"invalid ref '{text}': name a branch or commit, like {parsed.repo}@master "
            f"or {parsed.repo}@<commit id>"
        )
    return rev


def parse_path_ref(text: str) -> PathRef:
    """Where a write goes: ``repo@branch:/path`` exactly."""
    parsed = parse_ref(text)
    if parsed.branch is None or parsed.ancestors or parsed.nth is not None:
        raise InvalidRef(
            f"invalid ref '{text}': write to a branch, like {parsed.repo}@master:/path "
            "(not a commit id or an ancestor)"
        )
    if parsed.path is None:
        raise InvalidRef(
            f"invalid ref '{text}': give a path after ':', like {parsed.repo}@{parsed.branch}:/file"
        )
    return PathRef(repo=parsed.repo, branch=parsed.branch, path=parsed.path)
