"""The model behind the store's state machine (``test_state_machine.py``) and its helpers.

A commit is modelled as a ``Snapshot``: the files it holds (path → bytes) and its parent's id.
The model knows every commit the machine made, by the id the store gave it, so a branch's head,
its ``^N`` / ``.N`` ancestors, its history and the head of a triggered branch can all be checked
against what was written, without the model re-implementing the store.

The sizes below are the thresholds of the storage format (``store/objects.py``, ``packs.py``,
``trees.py``), each crossed by the smallest step that crosses it, so the machine stays fast.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import blake3

from dagster_versioned.store import Trigger
from dagster_versioned.store.objects import CHUNK_SIZE, PACK_MIN_OBJECTS, PACK_OBJECT_MAX
from dagster_versioned.store.packs import ENTRY_SIZE, FOOTER_SIZE, SORTED_MIN, TAIL_READ
from dagster_versioned.store.trees import MAX_LEAF

# ---------------------------------------------------------------- paths and thresholds

REPO = "repo"
BRANCHES = ("master", "dev", "feature")
"""Branches the machine writes to: modelled exactly."""
TRIGGERED = ("t1", "t2")
"""Branches that carry a trigger: only ever moved by their trigger, modelled loosely (their head
must be a commit the model knows, holding what the model says it holds)."""

DIRS = ("", "/d", "/d/e")
# Files only ever sit at these leaves (and below the prefixes further down), so a path is never
# both a file and a directory.
FILE_PATHS = tuple(f"{d}/f{i}" for d in DIRS for i in range(3))

BATCH_DIR = "/batch"
BATCH_SIZES = (PACK_MIN_OBJECTS, MAX_LEAF + 1, SORTED_MIN)
"""A batch of this many new small files is one pack; past ``MAX_LEAF`` names one folder is
sharded into a trie of nodes (``trees.py``); a pack of ``SORTED_MIN`` objects is searched in
its stored index, which is too long for one tail read (``packs.py``)."""
assert SORTED_MIN * ENTRY_SIZE + FOOTER_SIZE > TAIL_READ
MEDIUM_SIZE = PACK_OBJECT_MAX + 1
"""The smallest object a batch keeps loose instead of packing."""

LARGE_DIR = "/big"
LARGE_NAMES = ("l0", "l1")
LARGE_SIZE = CHUNK_SIZE + 1
"""The smallest file cut into two chunks."""

DEEP_DIRS = tuple("abcdefghijklmnop")
DEEP_FILE = "/deep/" + "/".join(DEEP_DIRS) + "/leaf"
"""16 nested folders: one commit writing this file writes 18 new tree nodes (a tree pack)."""
WIDE_DIR = "/wide"
WIDE_MIN = 16
"""Files in this many sibling folders: 16 new leaves, ``/wide`` and the root (a tree pack)."""

COPY_DIR = "/c"
"""Where directories are copied to (it only ever holds copies)."""
COPYABLE_FILES = (
    *FILE_PATHS,
    f"{BATCH_DIR}/b0000",
    f"{LARGE_DIR}/l0",
    DEEP_FILE,
    f"{WIDE_DIR}/w00/f",
)
COPYABLE_DIRS = ("/d", BATCH_DIR, WIDE_DIR, "/deep/a")
DELETABLE = (
    *FILE_PATHS,
    "/d",
    "/d/e",
    COPY_DIR,
    BATCH_DIR,
    f"{BATCH_DIR}/b0000",
    LARGE_DIR,
    f"{LARGE_DIR}/l1",
    "/deep",
    "/deep/a/b",
    WIDE_DIR,
    "/",
)
ANCESTRY = ("", "^1", "^2", ".1", ".2")
"""Ref suffixes: the head, its parent and grandparent, the branch's first and second commit."""


# ---------------------------------------------------------------- commits and ops

Files = dict[str, bytes]
Op = (
    tuple[Literal["put", "append"], str, bytes]
    | tuple[Literal["delete"], str]
    | tuple[Literal["replace"], str, Mapping[str, bytes]]
)
"""A write as the model sees it: put (or append to) one file, delete a path and everything
below it, or replace the directory at a path with copied files (relative paths, each starting
with ``/``)."""


@dataclass(frozen=True)
class Snapshot:
    """What one commit holds, and which commit is its parent."""

    files: Mapping[str, bytes]
    parent: str | None


@dataclass
class OpenCommit:
    """A commit started with ``start_commit``: its id and the writes sent into it so far."""

    id: str
    ops: list[Op] = field(default_factory=list)


def below(files: Mapping[str, bytes], path: str) -> list[str]:
    """The files at ``path`` or below it (``/``: every file)."""
    if path == "/":
        return list(files)
    return [p for p in files if p == path or p.startswith(path + "/")]


def apply(files: Files, op: Op) -> None:
    """Apply one write to ``files`` in place, as the store applies it to a tree."""
    if op[0] == "put":
        files[op[1]] = op[2]
    elif op[0] == "append":
        files[op[1]] = files.get(op[1], b"") + op[2]
    elif op[0] == "delete":
        for p in below(files, op[1]):
            del files[p]
    else:
        for p in below(files, op[1]):
            del files[p]
        files.update({f"{op[1]}{rel}": data for rel, data in op[2].items()})


class Model:
    """Every commit the machine made, the head of each branch, open commits and triggers."""

    def __init__(self) -> None:
        self.commits: dict[str, Snapshot] = {}
        self.heads: dict[str, str] = {}
        """Head commit of each existing branch of ``BRANCHES``."""
        self.open: dict[str, OpenCommit] = {}
        """The open commit of a branch (which may not exist: a commit can be started on a
        branch that does not exist yet, or that was deleted while the commit was open)."""
        self.triggers: dict[str, Trigger] = {}
        """The trigger of each existing branch of ``TRIGGERED``."""

    def files(self, branch: str) -> Files:
        """A copy of what the branch's head holds (nothing, for a missing branch)."""
        head = self.heads.get(branch)
        return {} if head is None else dict(self.commits[head].files)

    def land(self, branch: str, commit_id: str, files: Files) -> None:
        """A commit landed on ``branch``: its parent is the head it had (if the branch exists)."""
        assert commit_id not in self.commits, f"commit id {commit_id} reused"
        self.commits[commit_id] = Snapshot(files, self.heads.get(branch))
        self.heads[branch] = commit_id

    def chain(self, commit_id: str) -> list[str]:
        """The commit and its ancestors, nearest first (``list_commit``'s order)."""
        out = [commit_id]
        while (parent := self.commits[out[-1]].parent) is not None:
            out.append(parent)
        return out

    def resolve(self, branch: str, ancestry: str) -> str | None:
        """The commit ``repo@branch<ancestry>`` names, or ``None`` past the branch's history."""
        chain = self.chain(self.heads[branch])
        if ancestry.startswith("."):
            n = int(ancestry[1:])
            return chain[-n] if n <= len(chain) else None
        n = int(ancestry[1:]) if ancestry else 0
        return chain[n] if n < len(chain) else None


# ---------------------------------------------------------------- contents


@functools.cache
def large_content(seed: int, tail: int) -> bytes:
    """A file one byte past the chunk size; the first chunk is shared by equal seeds."""
    return bytes([seed]) * (LARGE_SIZE - 1) + bytes([tail])


@functools.lru_cache(maxsize=4096)
def digest(data: bytes) -> str:
    """BLAKE3 of a file's bytes: how the machine compares contents it read once."""
    return blake3.blake3(data, max_threads=blake3.blake3.AUTO).hexdigest()


def chunked_hash(data: bytes) -> str:
    """The hash ``FileInfo.hash`` reports for ``data`` stored in ``CHUNK_SIZE`` chunks."""
    chunks = [digest(data[i : i + CHUNK_SIZE]) for i in range(0, len(data), CHUNK_SIZE)]
    return chunks[0] if len(chunks) == 1 else digest(",".join(chunks).encode())


def batch_files(generation: int, count: int, *, medium: bool) -> dict[str, bytes]:
    """The files of one batch: equal generations share their files."""
    files = {f"b{i:04d}": b"batch %d:%d" % (generation, i) for i in range(count)}
    if medium:
        files["medium"] = (b"medium %d:" % generation).ljust(MEDIUM_SIZE, b"m")
    return files


_LOCAL = tempfile.TemporaryDirectory(prefix="dv-sm-batches-")


@functools.cache
def batch_dir(generation: int, count: int, *, medium: bool) -> Path:
    """A local folder holding ``batch_files(...)``, written once per process: creating 2,048
    files costs seconds on some disks, and the machine puts the same batches again and again."""
    root = Path(_LOCAL.name) / f"g{generation}-n{count}-m{int(medium)}"
    for name, data in batch_files(generation, count, medium=medium).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root
