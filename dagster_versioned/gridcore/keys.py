"""Grid cells' keys: canonical partition keys, reversible to the cell without guesswork.

A cell's key is *readable* — ``lr=0.1;train.depth=3`` — when every parameter name is an
identifier, every value is a number, boolean, null or a plain word (a string that starts with
a letter and holds only letters, digits and ``_ . + -``), and the whole key fits in 64
characters. Otherwise it is ``h_`` + 16 hex digits of the SHA-256 of the cell's canonical JSON.
Readable keys always contain ``=`` and hash keys never do, so the two forms cannot collide, and
each value renders one way only (a string ``"1"`` is not a plain word), so two cells never share
a readable key. The cell without parameters is ``no_parameters``.

Keys never contain ``/`` (IO managers make keys path segments), ``| , [ ]`` (forbidden in
``MultiPartitionsDefinition`` keys), ``...`` or control characters, and stay within 64
characters (MySQL's index prefix on partition columns). Reversing a key needs the grid (a dict
lookup) or, for a grid job, the key → cell map kept in the store under
``gridjobs/<name>/cells/<key>.json``.

No Dagster here: ``dvctl grid expand`` computes keys without it, and
``dagster_versioned.grids.partitions`` builds the partitions definitions from them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dagster_versioned.gridcore.cells import GridCell
from dagster_versioned.gridcore.values import json_text, parameters_error
from dagster_versioned.store import layout

if TYPE_CHECKING:  # the grid expands its cells with ``cell_key``; these only read a grid
    from dagster_versioned.gridcore.grid import ParameterGrid
    from dagster_versioned.store import Store

MAX_KEY_LENGTH = 64
NO_PARAMETERS_KEY = "no_parameters"
HASH_PREFIX = "h_"
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_WORD_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.+-]*$")
_FORBIDDEN = ("/", "|", ",", "[", "]", "...", "\\")
_RESERVED_WORDS = frozenset({"true", "false", "null"})


def render_value(value: Any) -> str | None:
    """A value's readable form, or ``None`` when it has none (lists, objects, odd strings)."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int | float):
        return json_text(value)
    if isinstance(value, str) and _WORD_RE.match(value) and value not in _RESERVED_WORDS:
        return value
    return None


def _is_clean(key: str) -> bool:
    return (
        len(key) <= MAX_KEY_LENGTH
        and key.isprintable()
        and not any(bad in key for bad in _FORBIDDEN)
    )


def hash_key(pipeline: Mapping[str, Any], steps: Mapping[str, Mapping[str, Any]]) -> str:
    """``h_`` + 16 hex digits of the cell's canonical JSON: stable across processes and edits."""
    content = json_text({"pipeline_parameters": pipeline, "step_parameters": steps})
    return HASH_PREFIX + hashlib.sha256(content.encode()).hexdigest()[:16]


def readable_key(pipeline: Mapping[str, Any], steps: Mapping[str, Mapping[str, Any]]) -> str | None:
    """``name=value;step.name=value`` in canonical order, or ``None`` if that is not clean."""
    labelled: list[tuple[str, str, Any]] = [("", n, v) for n, v in pipeline.items()]
    for step, params in steps.items():
        labelled += [(f"{step}.", n, v) for n, v in params.items()]
    parts: list[str] = []
    for prefix, name, value in labelled:
        text = render_value(value)
        if text is None or not _NAME_RE.match(name) or not _NAME_RE.match(prefix[:-1] or "x"):
            return None
        parts.append(f"{prefix}{name}={text}")
    key = ";".join(parts)
    return key if _is_clean(key) else None


def cell_key(pipeline: Mapping[str, Any], steps: Mapping[str, Mapping[str, Any]]) -> str:
    """The partition key of a cell (see the module docstring for the format)."""
    if not pipeline and not any(steps.values()):
        return NO_PARAMETERS_KEY
    return readable_key(pipeline, steps) or hash_key(pipeline, steps)


# -- Dagster partitions definitions -----------------------------------------------------------


def multi_dimensions(grid: ParameterGrid) -> dict[str, list[str]] | None:
    """Label → readable values, when the grid fits a ``MultiPartitionsDefinition``.

    That needs exactly two dimensions whose labels are names and whose values all render
    readably; Dagster allows no more than two, and forbids ``| , [ ]`` in their keys.
    """
    dims = grid.dimensions
    if len(dims) != 2 or dims[0].label == dims[1].label:
        return None
    out: dict[str, list[str]] = {}
    for d in dims:
        if not all(_NAME_RE.match(part) for part in d.label.split(".")):
            return None
        rendered = [render_value(v) for v in d.options]
        if any(r is None or not _is_clean(r) for r in rendered):
            return None
        out[d.label] = [r for r in rendered if r is not None]
    return out


def partition_key_for(grid: ParameterGrid, cell: GridCell, *, multi: bool = True) -> str:
    """The key of ``cell`` in ``grid_partitions_def(grid, multi=multi)``."""
    dims = multi_dimensions(grid) if multi else None
    if dims is None:
        return cell.key
    values = {}
    for d in grid.dimensions:
        values[d.label] = render_value(cell.params_for(d.step)[d.name])
    return "|".join(str(values[label]) for label in sorted(values))


def cell_for_partition_key(grid: ParameterGrid, key: str | Any) -> GridCell:
    """The cell a partition key (plain or multi-dimensional) stands for."""
    text = str(key)
    dims = multi_dimensions(grid)
    if dims is not None and "|" in text:
        for c in grid.all_cells:
            if partition_key_for(grid, c) == text:
                return c
        raise parameters_error(f"no cell of this grid has the partition key {text!r}")
    return grid.cell_for_key(text)


def dynamic_partitions_name(job_name: str) -> str:
    """The ``DynamicPartitionsDefinition`` name of a grid job's cells."""
    return f"dv_grid_{job_name}"


# -- the key → cell map in the store ----------------------------------------------------------


def store_cells(store: Store, job_dir: str, cells: list[GridCell]) -> None:
    """Record key → cell for ``cells`` of the job at ``job_dir`` (``layout.grid_job_dir``);
    immutable, since a key is its content."""
    items = []
    for c in cells:
        data = json.dumps(
            {"key": c.key, **c.content()}, separators=(",", ":"), ensure_ascii=False
        ).encode()
        items.append((layout.grid_cell(job_dir, c.key), data))
    store.records.put_missing(items)


def load_cell(store: Store, job_dir: str, key: str, index: int = -1) -> GridCell:
    """The cell stored for ``key`` (``index`` is the caller's; the map holds content only)."""
    data = store.records.read(layout.grid_cell(job_dir, key))
    if data is None:
        raise parameters_error(f"no cell is recorded for partition key {key!r} under {job_dir}")
    record = json.loads(data)
    return GridCell.from_json({**record, "index": index})
