"""A grid job's steps as Dagster assets, and how one step runs inside one run.

Each step is the asset ``<job>/<step>``, partitioned by the job's cells. Running it:

1. find the run's cell (the run config the sensor set, else the partition key through the
   store's key → cell map) and the snapshot commit (the run's tag, else the job record);
2. check the snapshot out once per run into ``<workdir_root>/<job>/<run id>`` — the run's
   private working copy, shared by its steps;
3. run the step there: a Python function loaded from the snapshot's copy of its module, with
   its parameters in a context variable; a script through Dagster Pipes with its parameters in
   the environment.

(No ``from __future__ import annotations``: Dagster reads the asset function's annotations.)
"""

import contextlib
import hashlib
import importlib.util
import inspect
import json
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr

from dagster_versioned.gridcore.cells import GridCell
from dagster_versioned.gridcore.keys import load_cell
from dagster_versioned.gridcore.params import PIPES_EXTRA, RunParams, params_env, params_scope
from dagster_versioned.gridcore.pipeline import GridPipeline, GridStep
from dagster_versioned.gridcore.records import GridJobRecord, GridJobStore
from dagster_versioned.gridcore.snapshot import checkout
from dagster_versioned.gridcore.tags import GLOBAL_ID_TAG, SNAPSHOT_TAG
from dagster_versioned.io.resource import open_store
from dagster_versioned.store import Store

_CWD_LOCK = threading.RLock()
GLOBAL_ID_ENV = "DV_GLOBAL_ID"
"""A script step's environment variable holding its batch's global id."""


def default_workdir_root() -> str:
    """Where per-run checkouts go: ``$DAGSTER_HOME/dagster_versioned/runs``, else the temp dir."""
    home = os.environ.get("DAGSTER_HOME")
    base = Path(home) if home else Path(tempfile.gettempdir())
    return str(base / "dagster_versioned" / "runs")


class GridJobSettings(dg.ConfigurableResource):  # type: ignore[misc]
    """Where a grid job's records live and where its runs check out their snapshot."""

    storage: str = Field(default="", description="Store root (empty: the dvctl default).")
    storage_options: dict[str, Any] = Field(default_factory=dict)
    job: str = Field(description="The grid job's name.")
    workdir_root: str = Field(default="", description="Directory of per-run checkouts.")
    project_dir: str = Field(default="", description="Live project (jobs without a snapshot).")
    _store: Store | None = PrivateAttr(default=None)

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.storage or None, self.storage_options)
        return self._store


class GridCellConfig(dg.ConfigurableResource):  # type: ignore[misc]
    """The run's cell, set by the sensor in each run's config (visible on the run's page)."""

    cell: str = Field(default="", description="The grid cell of this run, as JSON.")


def resource_keys(job: str) -> tuple[str, str]:
    """(settings, cell) resource keys of a grid job's steps."""
    return f"dv_grid_{job}", f"dv_grid_cell_{job}"


def step_assets(
    job: str, pipeline: GridPipeline, partitions_def: dg.PartitionsDefinition
) -> list[dg.AssetsDefinition]:
    """One asset per step, keyed ``[job, step]``, depending on its ``deps`` steps."""
    settings_key, cell_key = resource_keys(job)
    assets = []
    for step in pipeline.steps:
        assets.append(_step_asset(job, step, partitions_def, settings_key, cell_key))
    return assets


def _step_asset(
    job: str,
    step: GridStep,
    partitions_def: dg.PartitionsDefinition,
    settings_key: str,
    cell_key: str,
) -> dg.AssetsDefinition:
    @dg.asset(
        key=dg.AssetKey([job, step.name]),
        deps=[dg.AssetKey([job, d]) for d in step.deps],
        partitions_def=partitions_def,
        required_resource_keys={settings_key, cell_key},
        group_name=job,
        kinds={"python"} if step.fn is not None else {Path(str(step.script)).suffix.lstrip(".")},
        description=step.description or f"step {step.name} of grid job {job} ({step.kind})",
    )
    def _grid_step(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        settings = getattr(context.resources, settings_key)
        cell_json = getattr(context.resources, cell_key).cell
        return run_step(context, settings, cell_json, step)

    return _grid_step


def run_step(
    context: dg.AssetExecutionContext, settings: GridJobSettings, cell_json: str, step: GridStep
) -> dg.MaterializeResult:
    """Run one step of one cell in the run's checkout; its parameters reach the step code."""
    store = settings.store
    record = GridJobStore(store).get(settings.job)
    cell = _cell(store, record, context, cell_json)
    workdir = _workdir(store, record, context, settings)
    params = RunParams(
        pipeline_parameters=cell.pipeline_parameters,
        step_parameters=cell.step_parameters,
        step=step.name,
    )
    metadata: dict[str, Any] = {
        "cell": dg.MetadataValue.text(cell.describe()),
        "cell_key": dg.MetadataValue.text(cell.key),
        "parameters": dg.MetadataValue.json(params.to_json()),
        "snapshot": dg.MetadataValue.text(_snapshot_commit(record, context) or "(live project)"),
        "workdir": dg.MetadataValue.path(str(workdir)),
    }
    if step.fn is not None:
        returned = _run_function(context, record, step, workdir, params)
        if isinstance(returned, dict):
            metadata.update({f"returned/{k}": v for k, v in returned.items()})
        return dg.MaterializeResult(metadata=metadata)
    result = _run_script(context, record, step, workdir, params)
    return dg.MaterializeResult(metadata={**metadata, **dict(result.metadata or {})})


def _snapshot_commit(record: GridJobRecord, context: dg.AssetExecutionContext) -> str | None:
    return context.run.tags.get(SNAPSHOT_TAG) or record.snapshot_commit


def _cell(
    store: Store, record: GridJobRecord, context: dg.AssetExecutionContext, cell_json: str
) -> GridCell:
    if cell_json:
        return GridCell.from_json(json.loads(cell_json))
    return load_cell(store, record.prefix, context.partition_key)


def _workdir(
    store: Store,
    record: GridJobRecord,
    context: dg.AssetExecutionContext,
    settings: GridJobSettings,
) -> Path:
    commit = _snapshot_commit(record, context)
    if commit is None or record.snapshot is None:
        return Path(settings.project_dir or os.getcwd())
    root = Path(settings.workdir_root or default_workdir_root())
    return checkout(store, record.snapshot["repo"], commit, root / record.name / context.run.run_id)


@contextlib.contextmanager
def working_directory(path: Path) -> Iterator[None]:
    """Run with ``path`` as the working directory (process-wide, so one step at a time)."""
    with _CWD_LOCK:
        before = os.getcwd()
        os.chdir(path)
        try:
            yield
        finally:
            os.chdir(before)


def load_function(workdir: Path, file: str, qualname: str) -> Callable[..., Any]:
    """Import ``file`` from the run's checkout (under a private module name), get ``qualname``.

    The checkout is first on ``sys.path`` while the module loads, so its sibling modules come
    from the snapshot too (unless the process already imported them).
    """
    path = (workdir / file).resolve()
    name = "_dv_snapshot_" + hashlib.sha1(str(path).encode()).hexdigest()[:16]
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise dg.Failure(f"cannot import {file} from the snapshot checkout {workdir}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        sys.path.insert(0, str(workdir))
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        finally:
            with contextlib.suppress(ValueError):
                sys.path.remove(str(workdir))
    target: Any = module
    for part in qualname.split("."):
        target = getattr(target, part)
    return target  # type: ignore[no-any-return]


def _run_function(
    context: dg.AssetExecutionContext,
    record: GridJobRecord,
    step: GridStep,
    workdir: Path,
    params: RunParams,
) -> Any:
    assert step.fn is not None
    fn = step.fn
    spec = _step_spec(record, step.name)
    if record.snapshot is not None and spec.get("file") and spec.get("function"):
        fn = load_function(workdir, spec["file"], spec["function"])
    takes_context = bool(inspect.signature(fn).parameters)
    with params_scope(params), working_directory(workdir), _env(record.env):
        return fn(context) if takes_context else fn()


@contextlib.contextmanager
def _env(extra: Any) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in extra}
    os.environ.update({str(k): str(v) for k, v in extra.items()})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _step_spec(record: GridJobRecord, name: str) -> dict[str, Any]:
    for spec in record.pipeline.get("steps", []):
        if spec["name"] == name:
            return dict(spec)
    raise dg.Failure(f"grid job '{record.name}' has no step '{name}' in its record")


def _run_script(
    context: dg.AssetExecutionContext,
    record: GridJobRecord,
    step: GridStep,
    workdir: Path,
    params: RunParams,
) -> dg.MaterializeResult:
    script = str(step.script)
    path = workdir / script
    if not path.is_file():
        raise dg.Failure(f"step '{step.name}': {script} is not in the run's working copy {workdir}")
    suffix = path.suffix
    if suffix == ".py":
        command = [sys.executable, str(path)]
    elif suffix == ".sh":
        command = ["bash", str(path)]
    else:
        command = _notebook_command(step, path, workdir)
    env = {
        **{str(k): str(v) for k, v in record.env.items()},
        **params_env(params),
        "DV_GRID_JOB": record.name,
        "DV_GRID_WORKDIR": str(workdir),
        GLOBAL_ID_ENV: context.run.tags.get(GLOBAL_ID_TAG, ""),
    }
    client = dg.PipesSubprocessClient(cwd=str(workdir))
    invocation = client.run(
        context=context, command=command, env=env, extras={PIPES_EXTRA: params.to_json()}
    )
    return invocation.get_materialize_result()


def _notebook_command(step: GridStep, path: Path, workdir: Path) -> list[str]:
    """papermill runs a notebook step; without it the step fails with how to get it."""
    if importlib.util.find_spec("papermill") is None:
        raise dg.Failure(
            f"step '{step.name}' is a notebook ({step.script}) and papermill is not installed: "
            "`pip install papermill ipykernel` to run .ipynb steps"
        )
    out = path.with_name(f"{path.stem}.output.ipynb")
    return [sys.executable, "-m", "papermill", str(path), str(out), "--cwd", str(workdir)]
