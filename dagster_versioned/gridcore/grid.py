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

import hashlib
import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from dagster_versioned.gridcore.cells import Dimension, GridCell, ParameterDefaults
from dagster_versioned.gridcore.keys import cell_key
from dagster_versioned.gridcore.values import (
    PIPELINE_KEY,
    check_json_value,
    json_text,
    options_of,
    parameters_error,
)

MAX_CELLS = 100_000
"""Dagster's documented ceiling for partitions of one asset; bigger grids are refused."""


def _content_text(pipeline: Mapping[str, Any], steps: Mapping[str, Mapping[str, Any]]) -> str:
    return json_text({"p": dict(pipeline), "s": {k: dict(v) for k, v in steps.items()}})


def _ordered(old: Sequence[Any], used: Sequence[Any]) -> tuple[Any, ...]:
    """The distinct ``used`` values: those among ``old`` options in their order, then new ones."""
    texts = {json_text(u): u for u in used}
    out = [o for o in old if json_text(o) in texts]
    known = {json_text(o) for o in out}
    out += [u for t, u in texts.items() if t not in known]
    return tuple(out)


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

    def fingerprint(self) -> str:
        """A short hash of the grid's content and selection (equal grids, equal fingerprints)."""
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


__all__ = [
    "MAX_CELLS",
    "PIPELINE_KEY",
    "Dimension",
    "GridCell",
    "ParameterDefaults",
    "ParameterGrid",
    "check_json_value",
    "json_text",
    "options_of",
    "parameters_error",
]
