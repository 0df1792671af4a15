"""``GridPipeline``: Orchest's pipeline — steps with parameters — as grid jobs run it.

A step is a Python function or a script file (``.py``, ``.sh``, ``.ipynb``) in the project
directory, with its own parameters and defaults; the pipeline has pipeline-level parameters.
Steps are declared in pipeline order and may only depend on steps declared before them, so the
declaration order is a topological order and the canonical grid order follows it.

Example::

    pipeline = GridPipeline(
        name="train",
        parameters={"lr": 0.1},
        steps=[
            GridStep(name="prepare", script="prepare.py", parameters={"rows": 1000}),
            GridStep(name="fit", fn=fit, parameters={"depth": 3}, deps=("prepare",)),
        ],
    )
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dagster_versioned.errors import InvalidSpec
from dagster_versioned.gridcore.cells import ParameterDefaults
from dagster_versioned.gridcore.values import check_json_value

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
SCRIPT_KINDS = {".py": "python script", ".sh": "shell script", ".ipynb": "notebook"}


def validate_identifier(name: str, kind: str) -> str:
    """Dagster names (jobs, assets) and our store keys need ``[A-Za-z_][A-Za-z0-9_]*``."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise InvalidSpec(
            f"invalid {kind} name {name!r}: use a letter or '_' then letters, digits and '_' "
            "(at most 63 characters)"
        )
    return name


@dataclass(frozen=True, slots=True, kw_only=True)
class GridStep:
    """One step: a Python function (``fn``) or a script path (``script``), never both."""

    name: str
    fn: Callable[..., Any] | None = None
    """``fn()`` or ``fn(context)``; it reads its parameters with ``get_step_param`` & co."""
    script: str | None = None
    """A ``.py``, ``.sh`` or ``.ipynb`` file, relative to the project directory."""
    parameters: Mapping[str, Any] = field(default_factory=dict)
    """Parameter name → default value."""
    deps: tuple[str, ...] = ()
    """Steps (declared earlier) that must finish first."""
    description: str = ""

    def __post_init__(self) -> None:
        validate_identifier(self.name, "step")
        if (self.fn is None) == (self.script is None):
            given = "neither" if self.fn is None else "both"
            raise InvalidSpec(
                f"step '{self.name}': give exactly one of fn= or script=, got {given}"
            )
        if self.script is not None and Path(self.script).suffix not in SCRIPT_KINDS:
            raise InvalidSpec(
                f"step '{self.name}': script {self.script!r} must end in {', '.join(SCRIPT_KINDS)}"
            )
        if self.script is not None and Path(self.script).is_absolute():
            raise InvalidSpec(
                f"step '{self.name}': script {self.script!r} must be relative to the project "
                "directory, so runs find it in the snapshot"
            )
        object.__setattr__(self, "parameters", dict(self.parameters))
        object.__setattr__(self, "deps", tuple(self.deps))
        for name, value in self.parameters.items():
            check_json_value(value, f"{self.name}.{name}")

    @property
    def kind(self) -> str:
        return "python" if self.fn is not None else SCRIPT_KINDS[Path(str(self.script)).suffix]

    def to_json(self, project_dir: Path | None = None) -> dict[str, Any]:
        """The step as a job record shows it (the function as ``file:qualname``)."""
        out: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "parameters": dict(self.parameters),
            "deps": list(self.deps),
        }
        if self.fn is not None:
            out["function"] = getattr(self.fn, "__qualname__", repr(self.fn))
            out["file"] = function_file(self.fn, project_dir)
        else:
            out["file"] = self.script
        return out


def function_file(fn: Callable[..., Any], project_dir: Path | None) -> str | None:
    """The source file of ``fn``, relative to ``project_dir`` when inside it (else absolute)."""
    try:
        source = inspect.getsourcefile(inspect.unwrap(fn))
    except TypeError:
        return None
    if source is None:
        return None
    path = Path(source).resolve()
    if project_dir is not None:
        try:
            return path.relative_to(project_dir.resolve()).as_posix()
        except ValueError:
            return str(path)
    return str(path)


@dataclass(frozen=True, slots=True, kw_only=True)
class GridPipeline:
    """Steps in pipeline order plus pipeline-level parameters (name → default)."""

    name: str
    steps: tuple[GridStep, ...]
    parameters: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        validate_identifier(self.name, "pipeline")
        steps = tuple(self.steps)
        object.__setattr__(self, "steps", steps)
        object.__setattr__(self, "parameters", dict(self.parameters))
        if not steps:
            raise InvalidSpec(f"pipeline '{self.name}' has no steps; give at least one GridStep")
        seen: set[str] = set()
        for step in steps:
            if step.name in seen:
                raise InvalidSpec(
                    f"pipeline '{self.name}': two steps are named '{step.name}'; "
                    "give each step a distinct name"
                )
            for dep in step.deps:
                if dep not in seen:
                    raise InvalidSpec(
                        f"pipeline '{self.name}': step '{step.name}' depends on '{dep}', which "
                        "is not declared before it (declare steps in pipeline order)"
                    )
            seen.add(step.name)
        for name, value in self.parameters.items():
            check_json_value(value, f"pipeline_parameters.{name}")

    @property
    def defaults(self) -> ParameterDefaults:
        """The declared parameters with their defaults, steps in pipeline order."""
        return ParameterDefaults(
            pipeline=dict(self.parameters), steps={s.name: dict(s.parameters) for s in self.steps}
        )

    def step(self, name: str) -> GridStep:
        for s in self.steps:
            if s.name == name:
                return s
        raise InvalidSpec(
            f"pipeline '{self.name}' has no step '{name}'; its steps: "
            f"{', '.join(step_names(self.steps))}"
        )

    def to_json(self, project_dir: Path | None = None) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "parameters": dict(self.parameters),
            "steps": [s.to_json(project_dir) for s in self.steps],
        }


def step_names(steps: Sequence[GridStep]) -> list[str]:
    return [s.name for s in steps]
