"""Parameter grids: the cartesian product of parameter options, minus deselected cells.

A grid has ordered *dimensions*: first the pipeline-level parameters, then each step's
parameters, steps in pipeline order, names in declared order. Its cells are
``itertools.product`` over the dimensions' options — the last dimension varies fastest — and a
cell's ``index`` is its position in that full product, so deselecting cells never renumbers the
others. A pipeline parameter and a step parameter may share a name: they are different
dimensions and keep their own values.

Options are JSON values. In code a list is a list of options and any other value is one option;
``[[1, 2]]`` is one option that is itself a list (the parameters-file rule, see ``params_file``).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dagster_versioned.errors import InvalidParameters

MAX_CELLS = 100_000
"""Dagster's documented ceiling for partitions of one asset; bigger grids are refused."""
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


@dataclass(frozen=True, slots=True, kw_only=True)
class Dimension:
    """One parameter of the grid and its options, in order."""

    step: str | None
    """The step the parameter belongs to; ``None`` for a pipeline-level parameter."""
    name: str
    options: tuple[Any, ...]

    @property
    def label(self) -> str:
        """``name`` for a pipeline parameter, ``step.name`` for a step parameter."""
        return self.name if self.step is None else f"{self.step}.{self.name}"

    def to_json(self) -> dict[str, Any]:
        return {"step": self.step, "name": self.name, "options": list(self.options)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Dimension:
        return cls(step=data["step"], name=data["name"], options=tuple(data["options"]))


@dataclass(frozen=True, slots=True, kw_only=True)
class GridCell:
    """One combination of parameter values: one Dagster run (partition) of a grid job."""

    index: int
    """Position in the grid's full cartesian product (deselected cells keep their numbers)."""
    key: str
    """The partition key: readable where short, else a stable hash (see ``partitions``)."""
    pipeline_parameters: Mapping[str, Any] = field(default_factory=dict)
    step_parameters: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Step name → that step's parameters (every step of the pipeline, possibly ``{}``)."""

    def params_for(self, step: str | None) -> dict[str, Any]:
        """The parameters of one step (``None``: the pipeline's)."""
        if step is None:
            return dict(self.pipeline_parameters)
        return dict(self.step_parameters.get(step, {}))

    def content(self) -> dict[str, Any]:
        """The values alone, as the parameters file groups them (no index or key)."""
        return {
            PIPELINE_KEY: dict(self.pipeline_parameters),
            "step_parameters": {s: dict(p) for s, p in self.step_parameters.items()},
        }

    def describe(self) -> str:
        """``a=1, S.b=x``: the cell as one line for tables and logs."""
        parts = [f"{n}={json_text(v)}" for n, v in self.pipeline_parameters.items()]
        for step, params in self.step_parameters.items():
            parts += [f"{step}.{n}={json_text(v)}" for n, v in params.items()]
        return ", ".join(parts) or "(no parameters)"

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "key": self.key, **self.content()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GridCell:
        return cls(
            index=int(data["index"]),
            key=str(data["key"]),
            pipeline_parameters=dict(data.get(PIPELINE_KEY, {})),
            step_parameters={s: dict(p) for s, p in data.get("step_parameters", {}).items()},
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ParameterDefaults:
    """A pipeline's declared parameters with their default values, and its steps in order.

    Every parameter has a default (as in Orchest); a grid built against defaults fills every
    parameter a file or caller leaves out with ``[default]`` and refuses names it does not know.
    """

    pipeline: Mapping[str, Any] = field(default_factory=dict)
    steps: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Step name → its parameters' defaults; every step appears, in pipeline order."""

    def to_json(self) -> dict[str, Any]:
        return {
            PIPELINE_KEY: dict(self.pipeline),
            "steps": {s: dict(p) for s, p in self.steps.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ParameterDefaults:
        return cls(pipeline=dict(data.get(PIPELINE_KEY, {})), steps=dict(data.get("steps", {})))


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


def _content_text(pipeline: Mapping[str, Any], steps: Mapping[str, Mapping[str, Any]]) -> str:
    return json_text({"p": dict(pipeline), "s": {k: dict(v) for k, v in steps.items()}})


def _ordered(old: Sequence[Any], used: Sequence[Any]) -> tuple[Any, ...]:
    """The distinct ``used`` values: those among ``old`` options in their order, then new ones."""
    texts = {json_text(u): u for u in used}
    out = [o for o in old if json_text(o) in texts]
    known = {json_text(o) for o in out}
    out += [u for t, u in texts.items() if t not in known]
    return tuple(out)


def _is_json(value: Any) -> bool:
    try:
        json_text(value)
    except (TypeError, ValueError):
        return False
    return True


class ParameterGrid:
    """Pipeline and per-step parameter options → cells in canonical order.

    Example::

        grid = ParameterGrid(pipeline={"lr": [0.1, 0.01]}, steps={"train": {"depth": [3, 5]}})
        [c.describe() for c in grid.cells]
        # ['lr=0.1, train.depth=3', 'lr=0.1, train.depth=5', 'lr=0.01, train.depth=3', ...]
        grid.deselect(1).size, len(grid.deselect(1).cells)    # (4, 3)

    With ``defaults`` (a pipeline's declared parameters) left-out parameters get their default,
    steps follow the pipeline's order, and an unknown step or parameter is an error.
    """

    __slots__ = ("_cells", "_dimensions", "_step_order", "deselected")

    def __init__(
        self,
        pipeline: Mapping[str, Any] | None = None,
        steps: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        deselected: Iterable[int] = (),
        defaults: ParameterDefaults | None = None,
        strict_lists: bool = False,
        file: str = "",
    ) -> None:
        dims, order = _dimensions(pipeline or {}, steps or {}, defaults, strict_lists, file)
        self._dimensions: tuple[Dimension, ...] = dims
        self._step_order: tuple[str, ...] = order
        self._cells: list[GridCell] | None = None
        size = self.size
        if size > MAX_CELLS:
            raise parameters_error(
                f"the grid has {size} cells; at most {MAX_CELLS} are allowed (one Dagster "
                "partition each): use fewer options",
                file=file,
            )
        bad = sorted(i for i in deselected if not 0 <= int(i) < size)
        if bad:
            raise parameters_error(
                f"cannot deselect cell {bad[0]}: the grid has cells 0 to {size - 1}", file=file
            )
        self.deselected: frozenset[int] = frozenset(int(i) for i in deselected)

    @classmethod
    def from_dimensions(
        cls,
        dimensions: Sequence[Dimension],
        *,
        deselected: Iterable[int] = (),
        step_order: Sequence[str] = (),
    ) -> ParameterGrid:
        """A grid from explicit dimensions (as stored in a job record)."""
        pipeline = {d.name: list(d.options) for d in dimensions if d.step is None}
        steps: dict[str, dict[str, Any]] = {s: {} for s in step_order}
        for d in dimensions:
            if d.step is not None:
                steps.setdefault(d.step, {})[d.name] = list(d.options)
        return cls(pipeline, steps, deselected=deselected)

    # -- shape -----------------------------------------------------------------------------

    @property
    def dimensions(self) -> tuple[Dimension, ...]:
        return self._dimensions

    @property
    def steps(self) -> tuple[str, ...]:
        """Every step the grid knows of, in pipeline order (including steps without options)."""
        return self._step_order

    @property
    def size(self) -> int:
        """Cells in the full product, deselected ones included."""
        return math.prod(len(d.options) for d in self._dimensions)

    @property
    def all_cells(self) -> list[GridCell]:
        """Every cell of the product in canonical order, deselected ones included."""
        if self._cells is None:
            self._cells = list(self._expand())
        return self._cells

    @property
    def cells(self) -> list[GridCell]:
        """The selected cells in canonical order: one run each."""
        return [c for c in self.all_cells if c.index not in self.deselected]

    def cell(self, index: int) -> GridCell:
        return self.all_cells[index]

    def cell_for_key(self, key: str) -> GridCell:
        """The cell whose partition key is ``key`` (a plain lookup: keys are unique)."""
        for c in self.all_cells:
            if c.key == key:
                return c
        raise parameters_error(f"no cell of this grid has the partition key {key!r}")

    def _expand(self) -> Iterator[GridCell]:
        from dagster_versioned.gridcore.keys import cell_key

        seen: dict[str, int] = {}
        for index, values in enumerate(itertools.product(*(d.options for d in self._dimensions))):
            pipeline: dict[str, Any] = {}
            steps: dict[str, dict[str, Any]] = {s: {} for s in self._step_order}
            for dim, value in zip(self._dimensions, values, strict=True):
                if dim.step is None:
                    pipeline[dim.name] = value
                else:
                    steps[dim.step][dim.name] = value
            key = cell_key(pipeline, steps)
            if key in seen:  # pragma: no cover - 64-bit hash collision
                raise parameters_error(f"cells {seen[key]} and {index} share the key {key!r}")
            seen[key] = index
            yield GridCell(
                index=index, key=key, pipeline_parameters=pipeline, step_parameters=steps
            )

    # -- derived grids ---------------------------------------------------------------------

    def deselect(self, *cells: int | GridCell) -> ParameterGrid:
        """A copy with more cells deselected (by index or cell)."""
        extra = {c.index if isinstance(c, GridCell) else int(c) for c in cells}
        return self.with_deselected(self.deselected | extra)

    def select_where(self, predicate: Callable[[GridCell], bool]) -> ParameterGrid:
        """A copy that keeps only the (currently selected) cells ``predicate`` accepts."""
        drop = {c.index for c in self.all_cells if c.index in self.deselected or not predicate(c)}
        return self.with_deselected(drop)

    def with_deselected(self, deselected: Iterable[int]) -> ParameterGrid:
        grid = ParameterGrid.from_dimensions(
            self._dimensions, deselected=deselected, step_order=self._step_order
        )
        grid._cells = self._cells
        return grid

    def require_cells(self, file: str = "") -> list[GridCell]:
        """The selected cells; an error when none is left (a job with no runs)."""
        cells = self.cells
        if not cells:
            raise parameters_error(
                f"all {self.size} cells are deselected: cannot use an empty list of parameters, "
                "that would leave the job with no runs",
                file=file,
            )
        return cells

    def reconcile(self, defaults: ParameterDefaults) -> ParameterGrid:
        """Bring the grid in line with a pipeline's current parameters (Orchest's duplicate).

        Parameters the pipeline no longer declares are dropped, new ones get their default (no
        extra combinations), cells that became identical are merged, and options no selected
        cell uses any more disappear. Cells come out in canonical order.
        """
        kept: dict[str, tuple[dict[str, Any], dict[str, dict[str, Any]]]] = {}
        for c in self.require_cells():
            pipe = {
                n: c.pipeline_parameters.get(n, default) for n, default in defaults.pipeline.items()
            }
            steps = {
                step: {n: c.step_parameters.get(step, {}).get(n, v) for n, v in declared.items()}
                for step, declared in defaults.steps.items()
            }
            kept.setdefault(_content_text(pipe, steps), (pipe, steps))
        dims: list[Dimension] = []
        for step in (None, *defaults.steps):
            names = defaults.pipeline if step is None else defaults.steps[step]
            for name in names:
                used = [p[name] if step is None else s[step][name] for p, s in kept.values()]
                options = _ordered(self._options(step, name), used)
                dims.append(Dimension(step=step, name=name, options=options))
        full = ParameterGrid.from_dimensions(dims, step_order=tuple(defaults.steps))
        drop = [
            c.index
            for c in full.all_cells
            if _content_text(c.pipeline_parameters, c.step_parameters) not in kept
        ]
        return full.with_deselected(drop)

    def _options(self, step: str | None, name: str) -> tuple[Any, ...]:
        for d in self._dimensions:
            if d.step == step and d.name == name:
                return d.options
        return ()

    # -- serialisation ---------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "dimensions": [d.to_json() for d in self._dimensions],
            "steps": list(self._step_order),
            "deselected": sorted(self.deselected),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ParameterGrid:
        return cls.from_dimensions(
            [Dimension.from_json(d) for d in data.get("dimensions", [])],
            deselected=data.get("deselected", []),
            step_order=data.get("steps", []),
        )

    def to_parameters_json(self) -> dict[str, Any]:
        """The ``<pipeline>.parameters.json`` form: every value a list of options."""
        out: dict[str, Any] = {PIPELINE_KEY: {}}
        for d in self._dimensions:
            target = out[PIPELINE_KEY] if d.step is None else out.setdefault(d.step, {})
            target[d.name] = list(d.options)
        return out

    @classmethod
    def from_file(
        cls,
        path: Any,
        defaults: ParameterDefaults | None = None,
        *,
        deselected: Iterable[int] = (),
    ) -> ParameterGrid:
        """Read ``<pipeline>.parameters.json`` strictly (see ``params_file``)."""
        from dagster_versioned.gridcore.params_file import read_parameters_file

        return read_parameters_file(path, defaults=defaults, deselected=deselected)

    def fingerprint(self) -> str:
        """A short hash of the grid's content and selection (equal grids, equal fingerprints)."""
        import hashlib

        return hashlib.sha256(json_text(self.to_json()).encode()).hexdigest()[:16]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ParameterGrid):
            return NotImplemented
        return self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(self.fingerprint())

    def __repr__(self) -> str:
        dims = (
            ", ".join(f"{d.label} x{len(d.options)}" for d in self._dimensions) or "no parameters"
        )
        return f"ParameterGrid({dims}; {len(self.cells)} of {self.size} cells selected)"


def _dimensions(
    pipeline: Mapping[str, Any],
    steps: Mapping[str, Mapping[str, Any]],
    defaults: ParameterDefaults | None,
    strict: bool,
    file: str,
) -> tuple[tuple[Dimension, ...], tuple[str, ...]]:
    """Dimensions in canonical order, checked against ``defaults`` when given."""
    if not isinstance(pipeline, Mapping):
        raise parameters_error("expected an object of parameters", key=PIPELINE_KEY, file=file)
    for step, params in steps.items():
        if not isinstance(params, Mapping):
            raise parameters_error("expected an object of parameters", key=str(step), file=file)
    if defaults is None:
        order = tuple(str(s) for s in steps)
        dims = [_dim(None, n, v, f"{PIPELINE_KEY}.{n}", strict, file) for n, v in pipeline.items()]
        for step in order:
            dims += [_dim(step, n, v, f"{step}.{n}", strict, file) for n, v in steps[step].items()]
        return tuple(dims), order
    unknown_steps = [s for s in steps if s not in defaults.steps]
    if unknown_steps:
        known = ", ".join(defaults.steps) or "(none)"
        raise parameters_error(
            f"unknown step '{unknown_steps[0]}'; the pipeline's steps are: {known}",
            key=str(unknown_steps[0]),
            file=file,
        )
    dims = _declared(None, pipeline, defaults.pipeline, PIPELINE_KEY, strict, file)
    for step, declared in defaults.steps.items():
        dims += _declared(step, steps.get(step, {}), declared, step, strict, file)
    return tuple(dims), tuple(defaults.steps)


def _dim(step: str | None, name: Any, value: Any, key: str, strict: bool, file: str) -> Dimension:
    return Dimension(step=step, name=str(name), options=options_of(value, key, file, strict=strict))


def _declared(
    step: str | None,
    given: Mapping[str, Any],
    declared: Mapping[str, Any],
    where: str,
    strict: bool,
    file: str,
) -> list[Dimension]:
    unknown = [n for n in given if n not in declared]
    if unknown:
        known = ", ".join(declared) or "(none)"
        owner = "the pipeline" if step is None else f"step '{step}'"
        raise parameters_error(
            f"unknown parameter '{unknown[0]}'; {owner} declares: {known}",
            key=f"{where}.{unknown[0]}",
            file=file,
        )
    out = []
    for name, default in declared.items():
        key = f"{where}.{name}"
        if name in given:
            options = options_of(given[name], key, file, strict=strict)
        else:
            check_json_value(default, key, file)
            options = (default,)
        out.append(Dimension(step=step, name=name, options=options))
    return out
