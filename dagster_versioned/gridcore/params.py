"""Reading a run's parameters inside step code: ``get_pipeline_param``, ``get_step_param``.

A Python step runs inside the grid job's Dagster run, which sets the cell's parameters (from the
run's config) in a context variable before calling the step. A script step (``.py``, ``.sh``,
``.ipynb``) runs as a subprocess that gets them in its environment:

* ``DV_GRID_PARAMS``: ``{"pipeline_parameters": {...}, "step_parameters": {step: {...}},
  "step": "<this step>"}`` as JSON;
* ``DV_PARAM_<name>`` and ``DV_STEP_PARAM_<name>``, one per parameter whose name is an
  identifier: the value itself for strings, its JSON for anything else (handy in shell).

Scripts run through Dagster Pipes also find the same object as the Pipes extra
``dv_grid_params``. Outside a grid run every helper returns its default, so a step can be run by
hand. This module imports neither Dagster nor the store: a script pays nothing to use it.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

PARAMS_ENV = "DV_GRID_PARAMS"
PIPES_EXTRA = "dv_grid_params"
_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, slots=True, kw_only=True)
class RunParams:
    """The parameters of one run (a grid cell) as seen from one step."""

    pipeline_parameters: Mapping[str, Any] = field(default_factory=dict)
    step_parameters: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    step: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "pipeline_parameters": dict(self.pipeline_parameters),
            "step_parameters": {s: dict(p) for s, p in self.step_parameters.items()},
            "step": self.step,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunParams:
        return cls(
            pipeline_parameters=dict(data.get("pipeline_parameters") or {}),
            step_parameters=dict(data.get("step_parameters") or {}),
            step=data.get("step"),
        )

    def own(self) -> dict[str, Any]:
        """This step's parameters."""
        return dict(self.step_parameters.get(self.step, {})) if self.step else {}


class Params(NamedTuple):
    """``get_params()``: this step's parameters and the pipeline's, like Orchest's tuple."""

    step: dict[str, Any]
    pipeline: dict[str, Any]


_CURRENT: contextvars.ContextVar[RunParams | None] = contextvars.ContextVar(
    "dagster_versioned_grid_params", default=None
)


@contextlib.contextmanager
def params_scope(params: RunParams) -> Iterator[None]:
    """Make ``params`` what the helpers return while a Python step runs."""
    token = _CURRENT.set(params)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def current_params() -> RunParams:
    """The parameters of the running step: context variable, environment, Pipes, or none."""
    found = _CURRENT.get()
    if found is not None:
        return found
    text = os.environ.get(PARAMS_ENV)
    if text:
        try:
            return RunParams.from_json(json.loads(text))
        except (ValueError, AttributeError) as e:
            raise ValueError(f"${PARAMS_ENV} is not a parameters object: {e}") from e
    return _from_pipes() or RunParams()


def _from_pipes() -> RunParams | None:
    if "DAGSTER_PIPES_CONTEXT" not in os.environ:
        return None
    try:
        from dagster_pipes import PipesContext
    except ImportError:
        return None
    if not PipesContext.is_initialized():
        return None
    extras = PipesContext.get().extras
    data = extras.get(PIPES_EXTRA) if isinstance(extras, Mapping) else None
    return RunParams.from_json(data) if isinstance(data, Mapping) else None


def get_pipeline_param(name: str, default: Any = None) -> Any:
    """A pipeline-level parameter of this run, or ``default`` when it has none by that name."""
    return current_params().pipeline_parameters.get(name, default)


def get_step_param(name: str, default: Any = None) -> Any:
    """A parameter of the running step (not the pipeline's parameter of the same name)."""
    return current_params().own().get(name, default)


def get_params() -> Params:
    """``(step parameters, pipeline parameters)`` of this run, as two dicts."""
    params = current_params()
    return Params(step=params.own(), pipeline=dict(params.pipeline_parameters))


def params_env(params: RunParams) -> dict[str, str]:
    """Environment variables that carry ``params`` into a script step."""
    env = {PARAMS_ENV: json.dumps(params.to_json(), separators=(",", ":"))}
    if params.step:
        env["DV_GRID_STEP"] = params.step
    for prefix, values in (
        ("DV_PARAM_", params.pipeline_parameters),
        ("DV_STEP_PARAM_", params.own()),
    ):
        for name, value in values.items():
            if _IDENT_RE.match(name):
                env[prefix + name] = value if isinstance(value, str) else json.dumps(value)
    return env
