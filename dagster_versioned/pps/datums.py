"""Datums: the units of input a pipeline processes, as Pachyderm defines them for each input kind.

A datum's id names *which* input paths it holds (input name, repo, branch, matched path), so the
same files in the next job have the same id; its hash adds *what* they hold (their content
hashes), the pipeline's salt and its transform. A job skips a datum whose hash succeeded before:
changing a file, the code or the salt reprocesses exactly the datums it touches.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import blake3

from dagster_versioned.pps.ids import DatumId
from dagster_versioned.pps.inputs import CombinedInput, Input, PfsInput
from dagster_versioned.store import Commit, Store
from dagster_versioned.store.globs import compile_glob
from dagster_versioned.store.trees import Entry

_TEMPLATE = re.compile(r"\$(?:(\d+)|\{(\d+)\})")


@dataclass(frozen=True, slots=True, kw_only=True)
class DatumInput:
    """One input's share of a datum: a matched path (file or directory) in one commit."""

    name: str
    repo: str
    branch: str
    commit: str
    path: str
    entry: Entry
    reference: bool = False
    key: str = ""
    """The join_on / group_by key computed from the glob's capture groups."""
    empty_files: bool = False

    @property
    def ref(self) -> str:
        return f"{self.repo}@{self.commit}:{self.path}"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "repo": self.repo,
            "branch": self.branch,
            "commit": self.commit,
            "path": self.path,
            "entry": self.entry.to_json(),
            "reference": self.reference,
            "key": self.key,
            "empty_files": self.empty_files,
        }

    @staticmethod
    def from_json(raw: dict[str, Any]) -> DatumInput:
        return DatumInput(**{**raw, "entry": Entry.from_json(raw["entry"])})


@dataclass(frozen=True, slots=True, kw_only=True)
class DatumSpec:
    """A datum: the input paths one run of the pipeline's code sees together."""

    inputs: tuple[DatumInput, ...]
    id: DatumId = field(init=False, compare=False, repr=False)
    """Names which input paths the datum holds (content-free, so the next job matches it)."""

    def __post_init__(self) -> None:
        # One string hashed once (the same bytes as hashing each part in turn): this runs
        # for every datum of every job, 10,000+ times on a rerun that processes one.
        parts = (p for i in self.inputs for p in (i.name, i.repo, i.branch, i.path))
        key = "".join(f"{len(part)}:{part};" for part in parts)
        object.__setattr__(self, "id", DatumId(blake3.blake3(key.encode()).hexdigest()[:32]))

    def to_json(self) -> list[dict[str, Any]]:
        return [i.to_json() for i in self.inputs]

    @staticmethod
    def from_json(raw: list[dict[str, Any]]) -> DatumSpec:
        return DatumSpec(inputs=tuple(DatumInput.from_json(i) for i in raw))

    def hash(self, salt: str, transform: str) -> str:
        """Identity of the work: which paths, their content, the salt and the transform."""
        content = "".join(f"{i.entry.kind}:{i.entry.hash};" for i in self.inputs if not i.reference)
        key = f"{self.id}{content}salt:{salt};transform:{transform}"
        return blake3.blake3(key.encode()).hexdigest()

    @property
    def size(self) -> int:
        return sum(i.entry.size for i in self.inputs)

    @property
    def files(self) -> str:
        """``repo@commit:path`` of every input, comma-joined, as ``list datum`` shows."""
        return ", ".join(i.ref for i in self.inputs)


def expand_template(template: str, groups: tuple[str, ...]) -> str:
    """Substitute ``$1``/``${1}`` with capture groups, like Go's ``Regexp.Expand``."""

    def sub(m: re.Match[str]) -> str:
        index = int(m.group(1) or m.group(2))
        return groups[index - 1] if 0 < index <= len(groups) else ""

    return _TEMPLATE.sub(sub, template)


CommitFor = Callable[[PfsInput], Commit]


def compute_datums(store: Store, inp: Input, commit_for: CommitFor) -> list[DatumSpec]:
    """Every datum of ``inp`` against the commits ``commit_for`` picks, sorted by id."""
    datums = _datums(store, inp, commit_for)
    unique = {d.id: d for d in datums}
    return [unique[k] for k in sorted(unique)]


def _datums(store: Store, inp: Input, commit_for: CommitFor) -> list[DatumSpec]:
    if isinstance(inp, PfsInput):
        return [DatumSpec(inputs=(i,)) for i in _pfs_matches(store, inp, commit_for(inp))]
    children = [_datums(store, c, commit_for) for c in inp.inputs]
    if inp.kind == "cross":
        return [_merge(combo) for combo in itertools.product(*children)]
    if inp.kind == "union":
        return [d for child in children for d in child]
    if inp.kind == "join":
        return _join(inp, children)
    if inp.kind == "group":
        return _group(children)
    raise AssertionError(inp.kind)


def _pfs_matches(store: Store, inp: PfsInput, commit: Commit) -> list[DatumInput]:
    pattern = compile_glob(inp.glob)
    template = inp.join_on or inp.group_by or ""
    out = []
    _, matches = store.glob_entries(f"{commit.repo}@{commit.id}:{pattern.pattern}")
    for path, entry in matches:
        key = expand_template(template, pattern.groups(path)) if template else ""
        out.append(
            DatumInput(
                name=inp.input_name,
                repo=commit.repo,
                branch=inp.branch,
                commit=commit.id,
                path=path,
                entry=entry,
                reference=inp.reference,
                key=key,
                empty_files=inp.empty_files,
            )
        )
    return out


def _merge(datums: Iterable[DatumSpec]) -> DatumSpec:
    return DatumSpec(inputs=tuple(i for d in datums for i in d.inputs))


def _join(inp: CombinedInput, children: list[list[DatumSpec]]) -> list[DatumSpec]:
    """Inner join on keys; a child with ``outer_join`` also keeps its unmatched datums."""
    by_key: list[dict[str, list[DatumSpec]]] = []
    for child in children:
        keyed: dict[str, list[DatumSpec]] = {}
        for d in child:
            keyed.setdefault(d.inputs[0].key, []).append(d)
        by_key.append(keyed)
    outer = [isinstance(c, PfsInput) and c.outer_join for c in inp.inputs]
    keys = sorted(set().union(*(set(k) for k in by_key)))
    out: list[DatumSpec] = []
    for key in keys:
        present = [key in k for k in by_key]
        if not all(present) and not any(o and p for o, p in zip(outer, present, strict=True)):
            continue
        lists = [k[key] for k, p in zip(by_key, present, strict=True) if p]
        out.extend(_merge(combo) for combo in itertools.product(*lists))
    return out


def _group(children: list[list[DatumSpec]]) -> list[DatumSpec]:
    groups: dict[str, list[DatumSpec]] = {}
    for child in children:
        for d in child:
            groups.setdefault(d.inputs[0].key, []).append(d)
    return [_merge(groups[k]) for k in sorted(groups)]
