"""Pipeline inputs as Pachyderm composes them: ``pfs``, ``cross``, ``union``, ``join``, ``group``
and ``cron``.

An input is a pure description; ``datums.py`` turns it into datums against concrete commits.
Each input converts to and from the JSON of a Pachyderm pipeline spec, so a spec file and a
``@pipeline(input=...)`` declaration are the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from dagster_versioned.errors import InvalidSpec
from dagster_versioned.store.globs import compile_glob
from dagster_versioned.store.names import validate_branch_name, validate_repo_name
from dagster_versioned.store.triggers import Trigger, validate_cron

_RESERVED_NAMES = frozenset({"out", ".env"})
_PFS_KNOWN = frozenset(
    {
        "repo",
        "glob",
        "branch",
        "name",
        "trigger",
        "join_on",
        "outer_join",
        "group_by",
        "lazy",
        "empty_files",
        "reference",
        "commit",
        "repo_type",
        "project",
        "s3",
    }
)
"""The fields of a ``pfs`` input in a pipeline spec (some are accepted for migration only)."""
_CRON_KNOWN = frozenset({"name", "spec", "repo", "overwrite", "start", "commit", "project"})
"""The fields of Pachyderm's ``CronInput`` (``project`` is accepted for migration only)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PfsInput:
    """Files of one repo's branch, cut into datums by a glob pattern."""

    repo: str
    glob: str = "/*"
    branch: str = "master"
    name: str | None = None
    """The input's name: its directory under the datum (``/pfs/<name>``); default: the repo."""
    trigger: Trigger | None = None
    """Deferred processing: the pipeline reads branch ``<pipeline>-trigger-<n>``, moved by this."""
    join_on: str | None = None
    outer_join: bool = False
    group_by: str | None = None
    lazy: bool = False
    empty_files: bool = False
    """Give the datum zero-length files (names only), for code that needs just the listing."""
    reference: bool = False
    """Exclude this input's content from the datum hash: changing it does not reprocess."""
    commit: str | None = None
    """Pin a commit instead of following the branch head."""

    @property
    def input_name(self) -> str:
        return self.name or self.repo

    def to_spec(self) -> dict[str, Any]:
        raw: dict[str, Any] = {"repo": self.repo, "glob": self.glob, "branch": self.branch}
        if self.name:
            raw["name"] = self.name
        if self.trigger is not None:
            trig = self.trigger.to_json()
            raw["trigger"] = {k: v for k, v in trig.items() if v not in (None, False)}
        for key in ("join_on", "group_by", "commit"):
            if getattr(self, key):
                raw[key] = getattr(self, key)
        for key in ("outer_join", "lazy", "empty_files", "reference"):
            if getattr(self, key):
                raw[key] = True
        return {"pfs": raw}


@dataclass(frozen=True, slots=True)
class CombinedInput:
    """``cross``, ``union``, ``join`` or ``group`` of child inputs."""

    kind: str
    inputs: tuple[Input, ...] = field(default=())

    def to_spec(self) -> dict[str, Any]:
        return {self.kind: [i.to_spec() for i in self.inputs]}


@dataclass(frozen=True, slots=True, kw_only=True)
class CronInput(PfsInput):
    """Ticks of a schedule: a pfs input over a tick repo that ``pps/cron.py`` commits to.

    Like Pachyderm, each tick is a commit adding an empty file named by the tick time
    (RFC 3339, UTC) to the tick repo's master; the input reads it with glob ``/*``, so each tick
    file is a datum at ``/pfs/<name>/<time>``. It is a ``PfsInput`` so that datums, job inputs
    and branch sensors treat the tick repo as any other input repo.
    """

    repo: str = ""
    """The tick repo; ``""`` until the pipeline names it ``<pipeline>_<name>``."""
    spec: str
    """A cron expression (5 fields, ``@daily``…) or ``@every <duration>``."""
    overwrite: bool = False
    """Each tick replaces the previous tick file (one datum), instead of adding to them."""
    start: datetime | None = None
    """Ticks are counted from here (UTC); default: when the tick repo was created."""

    def to_spec(self) -> dict[str, Any]:
        raw: dict[str, Any] = {"name": self.name, "spec": self.spec}
        if self.repo:
            raw["repo"] = self.repo
        if self.overwrite:
            raw["overwrite"] = True
        if self.start is not None:
            raw["start"] = format_rfc3339(self.start)
        if self.commit:
            raw["commit"] = self.commit
        return {"cron": raw}


Input = PfsInput | CombinedInput


def pfs(
    repo: str,
    glob: str = "/*",
    *,
    branch: str = "master",
    name: str | None = None,
    trigger: Trigger | dict[str, Any] | None = None,
    join_on: str | None = None,
    outer_join: bool = False,
    group_by: str | None = None,
    lazy: bool = False,
    empty_files: bool = False,
    reference: bool = False,
    commit: str | None = None,
) -> PfsInput:
    """A repo input: each glob match in ``repo@branch`` is one datum."""
    validate_repo_name(repo)
    validate_branch_name(branch)
    compile_glob(glob)
    if isinstance(trigger, dict):
        trigger = Trigger(branch=trigger.get("branch", branch), **_trigger_fields(trigger))
    return PfsInput(
        repo=repo,
        glob=glob,
        branch=branch,
        name=name,
        trigger=trigger,
        join_on=join_on,
        outer_join=outer_join,
        group_by=group_by,
        lazy=lazy,
        empty_files=empty_files,
        reference=reference,
        commit=commit,
    )


def cron(
    name: str,
    spec: str,
    *,
    repo: str | None = None,
    overwrite: bool = False,
    start: datetime | str | None = None,
    commit: str | None = None,
) -> CronInput:
    """A schedule input: one tick commit per tick of ``spec`` (``"*/10 * * * *"``, ``"@every 1h"``).

    ``repo`` defaults to ``<pipeline>_<name>``, set when the pipeline is defined.
    """
    if not isinstance(name, str) or not name:
        raise InvalidSpec(
            f"a cron input needs a name (its directory /pfs/<name>), got {name!r}; "
            'as in cron("tick", "@every 1h")'
        )
    if repo:
        validate_repo_name(repo)
    return CronInput(
        name=name,
        spec=validate_cron(spec),
        repo=repo or "",
        overwrite=bool(overwrite),
        start=_start(start, name),
        commit=commit,
    )


def _start(start: datetime | str | None, name: str) -> datetime | None:
    """Whole seconds, as tick files are named, so ``to_spec`` round-trips."""
    if not start:
        return None
    return parse_rfc3339(start, f"cron input '{name}': field 'start'").replace(microsecond=0)


def parse_rfc3339(value: datetime | str, where: str) -> datetime:
    """An aware UTC time from an RFC 3339 string (``2024-01-02T03:04:05Z``) or a datetime; a
    naive datetime is taken as UTC, as protobuf timestamps are."""
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value).strip())
        except ValueError as e:
            raise InvalidSpec(
                f"{where}: invalid time {value!r}; use RFC 3339, like '2024-01-02T03:04:05Z'"
            ) from e
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_rfc3339(value: datetime) -> str:
    """Go's ``time.RFC3339`` for a UTC time: whole seconds and ``Z``, as tick files are named."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cron_inputs(inp: Input) -> list[CronInput]:
    """Every cron input inside ``inp``, in declaration order."""
    return [leaf for leaf in pfs_inputs(inp) if isinstance(leaf, CronInput)]


def with_cron_repos(inp: Input, pipeline: str) -> Input:
    """``inp`` with every cron input lacking a repo reading ``<pipeline>_<name>``, Pachyderm's
    default; ``inp`` itself when there is nothing to fill in."""
    if isinstance(inp, CronInput):
        if inp.repo:
            return inp
        repo = f"{pipeline}_{inp.name}"
        try:
            validate_repo_name(repo)
        except ValueError as e:
            raise InvalidSpec(f"cron input '{inp.name}': default repo {repo!r}: {e}") from e
        return replace(inp, repo=repo)
    if isinstance(inp, PfsInput):
        return inp
    children = tuple(with_cron_repos(c, pipeline) for c in inp.inputs)
    if all(new is old for new, old in zip(children, inp.inputs, strict=True)):
        return inp
    return CombinedInput(inp.kind, children)


def _trigger_fields(raw: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("size", "commits", "all"):
        if key in raw:
            out[key] = raw[key]
    cron = raw.get("cron_spec") or raw.get("rate_limit_spec") or raw.get("cron")
    if cron:
        out["cron"] = cron
    if "commits" in out:
        out["commits"] = int(out["commits"])
    return out


def cross(*inputs: Input) -> CombinedInput:
    """Every combination of one datum from each input."""
    return _combine("cross", inputs)


def union(*inputs: Input) -> CombinedInput:
    """The datums of every input, one after another."""
    return _combine("union", inputs)


def join(*inputs: Input) -> CombinedInput:
    """Datums whose ``join_on`` keys are equal, combined (``outer_join`` keeps the unmatched)."""
    combined = _combine("join", inputs)
    for child in inputs:
        if not isinstance(child, PfsInput) or not child.join_on:
            raise InvalidSpec(
                "every input of a join must be a pfs input with 'join_on' set, got "
                f"{_describe(child, 'join_on')}"
            )
    return combined


def group(*inputs: Input) -> CombinedInput:
    """All datums with the same ``group_by`` key, merged into one datum."""
    combined = _combine("group", inputs)
    for child in inputs:
        if not isinstance(child, PfsInput) or not child.group_by:
            raise InvalidSpec(
                "every input of a group must be a pfs input with 'group_by' set, got "
                f"{_describe(child, 'group_by')}"
            )
    return combined


def _describe(child: Input, key: str) -> str:
    """A child input as an error names it: a pfs input by its name, a combined one by kind."""
    if isinstance(child, CronInput):
        return f"cron input '{child.input_name}' (a cron input has no '{key}')"
    if isinstance(child, PfsInput):
        return f"pfs input '{child.input_name}' without '{key}'"
    return f"a {child.kind} input"


def _combine(kind: str, inputs: tuple[Input, ...]) -> CombinedInput:
    if not inputs:
        raise InvalidSpec(f"a {kind} input needs at least one input, got none")
    combined = CombinedInput(kind, tuple(inputs))
    validate_names(combined)
    return combined


def pfs_inputs(inp: Input) -> list[PfsInput]:
    """Every repo input inside ``inp``, in declaration order."""
    if isinstance(inp, PfsInput):
        return [inp]
    return [leaf for child in inp.inputs for leaf in pfs_inputs(child)]


def validate_names(inp: Input) -> None:
    """Input names must be unique (except across a union's children) and not reserved."""
    for leaf in pfs_inputs(inp):
        if leaf.input_name in _RESERVED_NAMES:
            raise InvalidSpec(
                f"input cannot be named {leaf.input_name!r}: "
                f"{', '.join(repr(n) for n in sorted(_RESERVED_NAMES))} are reserved; "
                "choose another name (name=...)"
            )
    _unique(inp)


def _unique(inp: Input) -> set[str]:
    if isinstance(inp, PfsInput):
        return {inp.input_name}
    names: set[str] = set()
    for child in inp.inputs:
        child_names = _unique(child)
        if inp.kind != "union":
            dup = names & child_names
            if dup:
                raise InvalidSpec(
                    f'name "{sorted(dup)[0]}" was used more than once in a {inp.kind} input; '
                    "give each input a distinct name (name=...)"
                )
        names |= child_names
    return names


def input_from_spec(raw: Any, where: str = "input") -> Input:
    """Parse the ``input`` field of a Pachyderm pipeline spec."""
    if not isinstance(raw, dict) or len(raw) != 1:
        raise InvalidSpec(
            f"{where}: expected one of {{'pfs', 'cron', 'cross', 'union', 'join', 'group'}}, "
            f"got {raw!r}"
        )
    ((kind, body),) = raw.items()
    if kind == "cron":
        return _cron_from_spec(body, where)
    if kind == "pfs":
        if not isinstance(body, dict) or "repo" not in body:
            raise InvalidSpec(
                f"{where}.pfs: needs a 'repo', as in "
                f'{{"pfs": {{"repo": "images", "glob": "/*"}}}}, got {body!r}'
            )
        unknown = sorted(set(body) - _PFS_KNOWN)
        if unknown:
            raise InvalidSpec(
                f"{where}.pfs: unknown field '{unknown[0]}'; known fields: "
                f"{', '.join(sorted(_PFS_KNOWN))}"
            )
        try:
            return pfs(
                body["repo"],
                body.get("glob", "/*"),
                branch=body.get("branch", "master"),
                name=body.get("name"),
                trigger=body.get("trigger"),
                join_on=body.get("join_on"),
                outer_join=bool(body.get("outer_join")),
                group_by=body.get("group_by"),
                lazy=bool(body.get("lazy")),
                empty_files=bool(body.get("empty_files")),
                reference=bool(body.get("reference")),
                commit=body.get("commit"),
            )
        except ValueError as e:
            raise InvalidSpec(f"{where}.pfs: {e}") from e
    makers = {"cross": cross, "union": union, "join": join, "group": group}
    if kind not in makers:
        raise InvalidSpec(
            f"{where}: unknown input kind '{kind}'; use pfs, cron, cross, union, join, group"
        )
    if not isinstance(body, list):
        raise InvalidSpec(f"{where}.{kind}: expected a list of inputs, got {type(body).__name__}")
    children = [input_from_spec(c, f"{where}.{kind}[{i}]") for i, c in enumerate(body)]
    return makers[kind](*children)


def _cron_from_spec(body: Any, where: str) -> CronInput:
    if not isinstance(body, dict) or "name" not in body or "spec" not in body:
        raise InvalidSpec(
            f"{where}.cron: needs a 'name' and a 'spec', as in "
            f'{{"cron": {{"name": "tick", "spec": "@every 1h"}}}}, got {body!r}'
        )
    unknown = sorted(set(body) - _CRON_KNOWN)
    if unknown:
        raise InvalidSpec(
            f"{where}.cron: unknown field '{unknown[0]}'; known fields: "
            f"{', '.join(sorted(_CRON_KNOWN))}"
        )
    try:
        return cron(
            body["name"],
            body["spec"],
            repo=body.get("repo") or None,
            overwrite=bool(body.get("overwrite")),
            start=body.get("start") or None,
            commit=body.get("commit") or None,
        )
    except ValueError as e:
        raise InvalidSpec(f"{where}.cron: {e}") from e
