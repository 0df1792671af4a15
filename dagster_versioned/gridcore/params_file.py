"""``<pipeline>.parameters.json``: Orchest's job parameters file, read strictly.

The file is one JSON object. ``pipeline_parameters`` maps pipeline-level parameter names to a
**list of options**; every other key is a step name mapping that step's parameter names to lists.
``[[1, 2]]`` is one option that is itself a list. Keys may be left out: against a pipeline's
defaults a missing parameter gets ``[default]``.

Orchest accepted broken files silently (a non-list value became one value, an unknown step was
dropped, bad JSON fell back to defaults). Here every one of those is an ``InvalidParameters``
naming the file, the key and the problem, raised before anything is created.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from dagster_versioned.errors import AlreadyExists
from dagster_versioned.gridcore.cells import ParameterDefaults
from dagster_versioned.gridcore.grid import ParameterGrid
from dagster_versioned.gridcore.values import PIPELINE_KEY, parameters_error

SUFFIX = ".parameters.json"


def parameters_file_path(directory: str | os.PathLike[str], pipeline: str) -> Path:
    """Where Orchest looks for a pipeline's parameters: ``<dir>/<pipeline>.parameters.json``."""
    return Path(directory) / f"{pipeline}{SUFFIX}"


def parse_parameters(
    data: Any,
    *,
    defaults: ParameterDefaults | None = None,
    deselected: Iterable[int] = (),
    file: str = "",
) -> ParameterGrid:
    """A grid from an already-decoded parameters object, with the file's strict rules."""
    if not isinstance(data, Mapping):
        raise parameters_error(
            f"expected a JSON object with '{PIPELINE_KEY}' and step keys, got "
            f"{type(data).__name__}",
            file=file,
        )
    pipeline = data.get(PIPELINE_KEY, {})
    if not isinstance(pipeline, Mapping):
        raise parameters_error(
            "expected an object mapping parameter names to lists of values",
            key=PIPELINE_KEY,
            file=file,
        )
    steps: dict[str, Any] = {}
    for key, value in data.items():
        if key == PIPELINE_KEY:
            continue
        if not isinstance(value, Mapping):
            raise parameters_error(
                "expected an object mapping parameter names to lists of values",
                key=str(key),
                file=file,
            )
        steps[str(key)] = value
    return ParameterGrid(
        pipeline,
        steps,
        deselected=deselected,
        defaults=defaults,
        strict_lists=True,
        file=file,
    )


def read_parameters_file(
    path: str | os.PathLike[str],
    *,
    defaults: ParameterDefaults | None = None,
    deselected: Iterable[int] = (),
) -> ParameterGrid:
    """Read a parameters file into a grid; ``InvalidParameters`` names the file, key and problem.

    Args:
        path: the ``.parameters.json`` file.
        defaults: the pipeline's declared parameters; with them, missing parameters get their
            default and unknown steps or parameter names are errors.
        deselected: cell indices to leave out.
    """
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise parameters_error("the file does not exist", file=name) from e
    except (OSError, UnicodeDecodeError) as e:
        raise parameters_error(f"the file cannot be read ({e})", file=name) from e
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise parameters_error(
            f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno}", file=name
        ) from e
    return parse_parameters(data, defaults=defaults, deselected=deselected, file=name)


def write_parameters_file(
    path: str | os.PathLike[str],
    grid: ParameterGrid | Mapping[str, Any],
    *,
    overwrite: bool = False,
) -> Path:
    """Write a grid (or a parameters mapping, validated first) as a parameters file.

    An existing file is kept unless ``overwrite`` (Orchest asks before overwriting); the write
    is atomic, so a reader never sees half a file.
    """
    target = Path(path)
    if not isinstance(grid, ParameterGrid):
        grid = parse_parameters(grid, file=str(target))
    if target.exists() and not overwrite:
        raise AlreadyExists(f"parameters file {target} already exists; pass overwrite=True")
    text = json.dumps(grid.to_parameters_json(), indent=2, ensure_ascii=False) + "\n"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)
    return target


def default_parameters(defaults: ParameterDefaults) -> dict[str, Any]:
    """The parameters-file form of a pipeline's defaults: each default as a one-option list."""
    out: dict[str, Any] = {PIPELINE_KEY: {n: [v] for n, v in defaults.pipeline.items()}}
    for step, params in defaults.steps.items():
        if params:
            out[step] = {n: [v] for n, v in params.items()}
    return out


def generate_parameters_file(
    path: str | os.PathLike[str],
    defaults: ParameterDefaults | Any,
    *,
    overwrite: bool = False,
) -> Path:
    """Write a parameters file holding a pipeline's defaults (one run), ready to edit.

    ``defaults`` is a ``ParameterDefaults`` or anything with a ``.defaults`` attribute (a
    ``GridPipeline``).
    """
    declared = defaults if isinstance(defaults, ParameterDefaults) else defaults.defaults
    grid = parse_parameters(default_parameters(declared), defaults=declared, file=str(path))
    return write_parameters_file(path, grid, overwrite=overwrite)
