"""The pieces of a grid: its dimensions, its cells, and a pipeline's declared defaults.

Plain records with their JSON forms, kept apart from ``ParameterGrid`` (which expands
dimensions into cells) so the cell-key functions and the stored key → cell map can use cells
without depending on the grid that makes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dagster_versioned.gridcore.values import PIPELINE_KEY, json_text


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
