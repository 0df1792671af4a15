"""Creating a grid job's record: validate everything, then snapshot, then write.

Nothing is written until the pipeline, the grid (or parameters file), the schedule and the
options have all been checked, so a bad parameters file leaves no record, no snapshot and no
cell map behind.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from dagster_versioned.errors import AlreadyExists, InvalidArgument, InvalidSpec
from dagster_versioned.gridcore.grid import ParameterGrid
from dagster_versioned.gridcore.keys import store_cells
from dagster_versioned.gridcore.params_file import (
    parameters_file_path,
    parse_parameters,
    read_parameters_file,
)
from dagster_versioned.gridcore.pipeline import GridPipeline, function_file, validate_identifier
from dagster_versioned.gridcore.records import GridJobRecord, GridJobStatus, GridJobStore
from dagster_versioned.gridcore.scheduling import check_cron
from dagster_versioned.gridcore.snapshot import project_files, take_snapshot
from dagster_versioned.gridcore.values import json_text
from dagster_versioned.store import Store, layout
from dagster_versioned.store.commits import now

GridInput = ParameterGrid | Mapping[str, Any] | str | os.PathLike[str] | None
OVERLAP_POLICIES = ("skip", "queue")


def normalize_grid(
    grid: GridInput,
    pipeline: GridPipeline,
    project_dir: Path | None,
    deselect: Iterable[int] = (),
) -> ParameterGrid:
    """The grid to run, checked against the pipeline's declared parameters.

    ``None`` reads ``<project>/<pipeline>.parameters.json`` when it exists (as Orchest does),
    else the defaults (one run). A path is a parameters file; a mapping has the file's form.
    A ``ParameterGrid`` built in code keeps its deselected cells (matched by their values).
    """
    defaults = pipeline.defaults
    if grid is None:
        found = parameters_file_path(project_dir, pipeline.name) if project_dir else None
        if found is not None and found.is_file():
            out = read_parameters_file(found, defaults=defaults)
        else:
            out = ParameterGrid(defaults=defaults)
    elif isinstance(grid, ParameterGrid):
        out = _with_defaults(grid, pipeline)
    elif isinstance(grid, str | os.PathLike):
        path = Path(grid)
        if not path.is_absolute() and project_dir is not None and (project_dir / path).exists():
            path = project_dir / path
        out = read_parameters_file(path, defaults=defaults)
    elif isinstance(grid, Mapping):
        out = parse_parameters(grid, defaults=defaults)
    else:
        raise InvalidArgument(
            f"grid must be a ParameterGrid, a parameters mapping or a file path, not "
            f"{type(grid).__name__}"
        )
    extra = list(deselect)
    if extra:
        out = out.deselect(*extra)
    out.require_cells()
    return out


def _with_defaults(grid: ParameterGrid, pipeline: GridPipeline) -> ParameterGrid:
    pipe = {d.name: list(d.options) for d in grid.dimensions if d.step is None}
    steps: dict[str, dict[str, Any]] = {}
    for d in grid.dimensions:
        if d.step is not None:
            steps.setdefault(d.step, {})[d.name] = list(d.options)
    full = ParameterGrid(pipe, steps, defaults=pipeline.defaults)
    if not grid.deselected:
        return full
    dropped = {json_text(grid.cell(i).content()) for i in grid.deselected}
    drop = [c.index for c in full.all_cells if json_text(_project(c.content(), grid)) in dropped]
    return full.with_deselected(drop)


def _project(content: dict[str, Any], grid: ParameterGrid) -> dict[str, Any]:
    """A full cell's content restricted to the dimensions (and steps) ``grid`` has."""
    pipe = {k: v for k, v in content["pipeline_parameters"].items() if k in _names(grid, None)}
    steps = {
        s: {k: v for k, v in p.items() if k in _names(grid, s)}
        for s, p in content["step_parameters"].items()
        if s in grid.steps
    }
    return {"pipeline_parameters": pipe, "step_parameters": steps}


def _names(grid: ParameterGrid, step: str | None) -> set[str]:
    return {d.name for d in grid.dimensions if d.step == step}


def check_functions(pipeline: GridPipeline, project_dir: Path, files: Iterable[str]) -> None:
    """Python steps of a snapshotted job must live in project files the snapshot contains."""
    present = set(files)
    for step in pipeline.steps:
        if step.fn is None:
            if step.script not in present:
                raise InvalidSpec(
                    f"step '{step.name}': script {step.script!r} is not in the snapshot of "
                    f"{project_dir} (missing, ignored by .gitignore, or under data/)"
                )
            continue
        qualname = getattr(step.fn, "__qualname__", "")
        rel = function_file(step.fn, project_dir)
        if rel is None or "<locals>" in qualname or rel not in present:
            raise InvalidSpec(
                f"step '{step.name}': function {qualname or step.fn!r} is defined in "
                f"{rel or 'no file'}, which is not a module file of the snapshot of "
                f"{project_dir}; define it at module level in a file of the project, or "
                "pass snapshot=None to run live code"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class JobOptions:
    """Everything about a new grid job besides its name, pipeline and grid."""

    schedule: str | None = None
    at: datetime | None = None
    snapshot: str | os.PathLike[str] | None = None
    max_retained_runs: int | None = None
    allow_overlap: bool = True
    on_overlap: str = "skip"
    env: Mapping[str, str] | None = None
    draft: bool = False
    title: str | None = None
    parent: str | None = None

    def check(self) -> None:
        if self.schedule is not None:
            check_cron(self.schedule)
            if self.at is not None:
                raise InvalidArgument(
                    f"give either a cron schedule or at=, not both: got "
                    f"schedule={self.schedule!r} and at={self.at.isoformat()}"
                )
        if self.at is not None and self.at.tzinfo is None:
            raise InvalidArgument(
                f"at={self.at.isoformat()} has no time zone; give an aware datetime "
                "(e.g. datetime(..., tzinfo=UTC))"
            )
        if self.max_retained_runs is not None and (
            not isinstance(self.max_retained_runs, int) or self.max_retained_runs < 0
        ):
            raise InvalidArgument(
                f"max_retained_runs={self.max_retained_runs!r}: give a number >= 0, or None to "
                "keep every run"
            )
        if self.on_overlap not in OVERLAP_POLICIES:
            raise InvalidArgument(
                f"on_overlap={self.on_overlap!r}: use one of {', '.join(OVERLAP_POLICIES)}"
            )


def create_job_record(
    store: Store,
    name: str,
    pipeline: GridPipeline,
    grid: ParameterGrid,
    options: JobOptions,
) -> GridJobRecord:
    """Snapshot the project, record the cells and create the job (``AlreadyExists`` if taken).

    ``grid`` must already be normalised (``normalize_grid``); everything is validated before
    the first write.
    """
    validate_identifier(name, "grid job")
    options.check()
    project = Path(options.snapshot).resolve() if options.snapshot is not None else None
    if project is not None:
        if not project.is_dir():
            raise InvalidArgument(
                f"snapshot={str(options.snapshot)!r} is not a directory; give the project "
                "directory to snapshot, or snapshot=None to run live code"
            )
        check_functions(pipeline, project, project_files(project, store))
    jobs = GridJobStore(store)
    if jobs.exists(name):
        raise AlreadyExists(f"grid job '{name}' already exists")
    cells = grid.require_cells()
    snapshot = (
        take_snapshot(store, project, branch=name, description=f"snapshot for grid job {name}")
        if project is not None
        else None
    )
    store_cells(store, layout.grid_job_dir(name), cells)
    created = now()
    if options.draft:
        status = GridJobStatus.DRAFT
    else:
        status = GridJobStatus.STARTED if options.schedule else GridJobStatus.PENDING
    record = GridJobRecord(
        id=jobs.new_id(),
        name=name,
        title=options.title or name,
        pipeline=pipeline.to_json(project),
        grid=grid.to_json(),
        schedule=options.schedule,
        start_at=options.at,
        status=status,
        snapshot=None if snapshot is None else snapshot.to_json(),
        max_retained_runs=options.max_retained_runs,
        allow_overlap=options.allow_overlap,
        on_overlap=options.on_overlap,
        env=dict(options.env or {}),
        created=created,
        updated=created,
        schedule_anchor=created if options.schedule and not options.draft else None,
        parent=options.parent,
    )
    return jobs.create(record)
