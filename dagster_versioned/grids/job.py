"""``GridJob``: one grid job's Dagster definitions and Orchest's controls over its record.

The job's sensor does the scheduling from the record in the store, so pausing, editing the cron
string or the parameters, run-now and cancel take effect at the next tick without reloading the
code location: it syncs run states into the store, applies retention, decides whether a batch
is due (``scheduling.plan_tick``), creates it (exclusively, so a tick makes one batch at most)
and yields one ``RunRequest`` per cell with ``run_key = <job id>:<batch>:<cell>``.

Cells are partitions of a ``DynamicPartitionsDefinition`` (``dv_grid_<job>``) so edited grids
add partitions without a reload; keys follow ``partitions`` (readable or ``h_<hash>``).

(No ``from __future__ import annotations``: the sensor function's annotations are read by Dagster.)
"""

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg

from dagster_versioned.gridcore import lifecycle
from dagster_versioned.gridcore.cells import GridCell
from dagster_versioned.gridcore.create import (
    GridInput,
    JobOptions,
    create_job_record,
    normalize_grid,
)
from dagster_versioned.gridcore.grid import ParameterGrid
from dagster_versioned.gridcore.keys import dynamic_partitions_name, load_cell
from dagster_versioned.gridcore.pipeline import GridPipeline
from dagster_versioned.gridcore.records import (
    BatchRecord,
    GridJobRecord,
    GridJobStatus,
    GridJobStore,
    derive_status,
)
from dagster_versioned.grids.runs import cancel_runs, launch_in_process, sync
from dagster_versioned.grids.steps import (
    GridCellConfig,
    GridJobSettings,
    default_workdir_root,
    resource_keys,
    step_assets,
)
from dagster_versioned.grids.ticks import run_tick
from dagster_versioned.io.resource import open_store, resolve_storage
from dagster_versioned.store import Store
from dagster_versioned.store.commits import now


class GridJob:
    """A grid job: its Dagster definitions and Orchest's controls over its record.

    Example::

        job = grid_job("search", pipeline, "train.parameters.json", schedule="0 * * * *",
                       snapshot=Path(__file__).parent, max_retained_runs=50)
        defs = job.definitions            # assets, job, sensor, resources
        job.pause(); job.resume(); job.run_now(); job.cancel(instance)
    """

    def __init__(
        self,
        name: str,
        pipeline: GridPipeline,
        *,
        storage: str | None = None,
        storage_options: Mapping[str, Any] | None = None,
        workdir_root: str | os.PathLike[str] | None = None,
        project_dir: str | os.PathLike[str] | None = None,
        tick_interval: int = 30,
        sensor_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING,
    ) -> None:
        self.name = name
        self.pipeline = pipeline
        self.storage = resolve_storage(storage)
        self.storage_options = dict(storage_options or {})
        self.workdir_root = Path(workdir_root or default_workdir_root())
        self.project_dir = str(project_dir or "")
        self.tick_interval = tick_interval
        self.sensor_status = sensor_status
        self.clock: Callable[[], datetime] = now
        """The time ticks see (tests move it; production leaves it alone)."""
        self._store: Store | None = None
        self._definitions: dg.Definitions | None = None

    # -- store -----------------------------------------------------------------------------

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.storage, self.storage_options)
        return self._store

    @property
    def jobs(self) -> GridJobStore:
        return GridJobStore(self.store)

    @property
    def record(self) -> GridJobRecord:
        """The newest record (read from the store on every access)."""
        return self.jobs.get(self.name)

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def grid(self) -> ParameterGrid:
        """The current parameters (later batches use them)."""
        return ParameterGrid.from_json(self.record.grid)

    def batches(self) -> list[BatchRecord]:
        return self.jobs.batches(self.name)

    def cells_of(self, batch: BatchRecord) -> list[GridCell]:
        """The cells a batch ran with (from the key → cell map: edits never change them)."""
        return [load_cell(self.store, self.record.prefix, c.key, c.cell) for c in batch.cells]

    # -- Dagster definitions ---------------------------------------------------------------

    @property
    def partitions_def(self) -> dg.DynamicPartitionsDefinition:
        return dg.DynamicPartitionsDefinition(name=dynamic_partitions_name(self.name))

    @property
    def definitions(self) -> dg.Definitions:
        """Assets (one per step), the partitioned job, the scheduling sensor and resources."""
        if self._definitions is None:
            self._definitions = self._build_definitions()
        return self._definitions

    def _build_definitions(self) -> dg.Definitions:
        assets = step_assets(self.name, self.pipeline, self.partitions_def)
        job = dg.define_asset_job(
            name=self.name,
            selection=dg.AssetSelection.assets(*assets),
            description=f"grid job {self.name}: pipeline {self.pipeline.name}, one run per cell",
        )
        grid_job_obj = self

        @dg.sensor(
            name=f"{self.name}_schedule",
            job=job,
            minimum_interval_seconds=self.tick_interval,
            default_status=self.sensor_status,
            description=f"starts the batches of grid job {self.name} (cron, at, run now)",
        )
        def _grid_sensor(context: dg.SensorEvaluationContext) -> Any:
            return grid_job_obj.tick(context.instance)

        settings_key, cell_key = resource_keys(self.name)
        settings = GridJobSettings(
            storage=self.storage,
            storage_options=self.storage_options,
            job=self.name,
            workdir_root=str(self.workdir_root),
            project_dir=self.project_dir,
        )
        return dg.Definitions(
            assets=assets,
            jobs=[job],
            sensors=[_grid_sensor],
            resources={settings_key: settings, cell_key: GridCellConfig()},
        )

    @property
    def sensor(self) -> dg.SensorDefinition:
        sensors = self.definitions.sensors or []
        return next(s for s in sensors if isinstance(s, dg.SensorDefinition))

    @property
    def job_def(self) -> dg.JobDefinition:
        return self.definitions.resolve_job_def(self.name)

    # -- Orchest's controls ----------------------------------------------------------------

    def confirm(self) -> GridJobRecord:
        """Start a DRAFT job (Orchest's "Run job")."""
        return lifecycle.confirm(self.jobs, self.name, self.clock())

    def pause(self) -> GridJobRecord:
        return lifecycle.pause(self.jobs, self.name)

    def resume(self) -> GridJobRecord:
        return lifecycle.resume(self.jobs, self.name, self.clock())

    def run_now(self) -> str:
        """Request one extra batch with the current parameters (the next tick starts it)."""
        return lifecycle.request_run(self.jobs, self.name, at=self.clock())

    def update(
        self,
        *,
        grid: GridInput = None,
        deselect: Iterable[int] = (),
        schedule: Any = lifecycle.UNSET,
        max_retained_runs: Any = lifecycle.UNSET,
        env: Mapping[str, str] | None = None,
    ) -> GridJobRecord:
        """Edit a DRAFT or cron job; later batches use the new values."""
        project = Path(self.project_dir) if self.project_dir else None
        new_grid = None
        if grid is not None:
            new_grid = normalize_grid(grid, self.pipeline, project, deselect)
        elif deselect:  # more cells off in the current grid
            new_grid = self.grid.deselect(*deselect)
        return lifecycle.update(
            self.jobs,
            self.name,
            grid=new_grid,
            schedule=schedule,
            max_retained_runs=max_retained_runs,
            env=env,
            at=self.clock(),
        )

    def cancel(self, instance: dg.DagsterInstance | None = None) -> GridJobRecord:
        """ABORTED; with an instance, queued and running runs are aborted now (else next tick)."""
        record = lifecycle.abort(self.jobs, self.name, self.clock())
        if instance is not None and record.status is GridJobStatus.ABORTED:
            cancel_runs(instance, record)
            record, _ = sync(self.jobs, record, instance)
        return record

    def status(self, instance: dg.DagsterInstance | None = None) -> GridJobStatus:
        """Orchest's status, from the job's runs (an instance) or their last copied states."""
        record, batches = sync(self.jobs, self.record, instance)
        return derive_status(record, batches)

    def duplicate(
        self,
        name: str | None = None,
        *,
        pipeline: GridPipeline | None = None,
        project_dir: str | os.PathLike[str] | None = None,
        title: str | None = None,
    ) -> "GridJob":
        """A new DRAFT job: new id, new snapshot of the current project, same configuration.

        Parameters are brought in line with ``pipeline`` (default: this job's): gone ones are
        dropped, new ones take their default, cells that became identical merge.
        """
        record = self.record
        pipe = pipeline or self.pipeline
        project = project_dir or (record.snapshot or {}).get("project_dir")
        grid = ParameterGrid.from_json(record.grid).reconcile(pipe.defaults)
        new_name = name or self._free_name(f"{record.name}_copy")
        options = JobOptions(
            schedule=record.schedule,
            at=record.start_at,
            snapshot=project,
            max_retained_runs=record.max_retained_runs,
            allow_overlap=record.allow_overlap,
            on_overlap=record.on_overlap,
            env=record.env,
            draft=True,
            title=title or f"Duplicate of {record.title}",
            parent=record.id,
        )
        create_job_record(self.store, new_name, pipe, grid, options)
        return self._sibling(new_name, pipe)

    def _free_name(self, base: str) -> str:
        name, n = base, 1
        while self.jobs.exists(name):
            n += 1
            name = f"{base}{n}"
        return name

    def _sibling(self, name: str, pipeline: GridPipeline) -> "GridJob":
        other = GridJob(
            name,
            pipeline,
            storage=self.storage,
            storage_options=self.storage_options,
            workdir_root=self.workdir_root,
            project_dir=self.project_dir,
            tick_interval=self.tick_interval,
            sensor_status=self.sensor_status,
        )
        other._store = self._store
        return other

    # -- the sensor's tick -----------------------------------------------------------------

    def tick(
        self, instance: dg.DagsterInstance, *, at: datetime | None = None
    ) -> dg.SensorResult | dg.SkipReason:
        """One scheduling step: sync, cancel, retention, new batches, run requests."""
        return run_tick(self.store, self.name, instance, at or self.clock(), self.workdir_root)

    def launch_in_process(
        self, instance: dg.DagsterInstance, requests: Sequence[dg.RunRequest] | None = None
    ) -> list[dg.ExecuteInProcessResult]:
        """Execute run requests here, one after the other (default: this tick's).

        For tests, notebooks and machines without a daemon; the daemon does this otherwise.
        The runs' end states are then copied into the store, as the next tick would, so
        ``dvctl inspect grid-job`` shows them at once.
        """
        if requests is None:
            result = self.tick(instance)
            requests = []
            if isinstance(result, dg.SensorResult):
                requests = list(result.run_requests or [])
        results = launch_in_process(instance, self.job_def, requests)
        sync(self.jobs, self.record, instance)
        return results
