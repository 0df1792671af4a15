"""Helpers of the grid tests: a small project on disk, its pipeline, and tick/launch shortcuts.

Runs are real: sensors are evaluated through ``evaluate_tick`` with a sensor context, and run
requests are executed in-process on a real ``DagsterInstance`` (what the daemon would launch).
Where a test is about scheduling rather than execution, ``record_runs`` creates the requested
runs in the instance with a given status instead of executing them.
"""

from __future__ import annotations

import importlib.util
import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from types import ModuleType

import dagster as dg
from dagster._core.events import DagsterEvent, DagsterEventType

from dagster_versioned.grids import GridJob, GridPipeline, GridStep

STEPS_PY = '''\
"""Steps of the test project: each run writes what it saw to $GRID_OUT."""

import json
import os
import uuid
from pathlib import Path

from dagster_versioned import get_params, get_pipeline_param, get_step_param

VERSION = "v1"


def _emit(step, **extra):
    out = Path(os.environ["GRID_OUT"])
    out.mkdir(parents=True, exist_ok=True)
    step_params, pipeline_params = get_params()
    record = {
        "step": step,
        "version": VERSION,
        "step_params": step_params,
        "pipeline_params": pipeline_params,
        "cwd": os.getcwd(),
        **extra,
    }
    (out / f"{step}-{uuid.uuid4().hex}.json").write_text(json.dumps(record))


def fit():
    lr, fit_lr = get_pipeline_param("lr"), get_step_param("lr")
    _emit("fit", lr=lr, fit_lr=fit_lr, x=get_pipeline_param("x", 3))


def scratch():
    """Writes a file into the run's working copy; fails if a file from another run is there."""
    seen = sorted(p.name for p in Path.cwd().iterdir())
    if Path("scratch.txt").exists():
        raise RuntimeError("scratch.txt from another run is visible")
    Path("scratch.txt").write_text(str(get_pipeline_param("lr")))
    _emit("scratch", seen=seen)
'''

REPORT_PY = """\
import json
import os
import uuid
from pathlib import Path

from dagster_versioned.gridcore.params import get_params, get_pipeline_param, get_step_param

VERSION = "v1"
step_params, pipeline_params = get_params()
out = Path(os.environ["GRID_OUT"])
out.mkdir(parents=True, exist_ok=True)
(out / f"report-{uuid.uuid4().hex}.json").write_text(json.dumps({
    "step": "report", "version": VERSION, "lr": get_pipeline_param("lr"),
    "level": get_step_param("level"), "step_params": step_params,
    "pipeline_params": pipeline_params, "cwd": os.getcwd(),
}))
"""

CHECK_SH = """\
#!/bin/bash
# fails for the cell whose step parameter "level" is 2
echo "level=$DV_STEP_PARAM_level lr=$DV_PARAM_lr"
if [ "$DV_STEP_PARAM_level" = "2" ]; then exit 3; fi
"""


def make_project(root: Path) -> Path:
    """A project directory: Python steps, a script step, a .gitignore, and a data/ directory."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "steps.py").write_text(STEPS_PY)
    (root / "report.py").write_text(REPORT_PY)
    (root / "check.sh").write_text(CHECK_SH)
    (root / ".gitignore").write_text("# generated\nbig/\n*.tmp\n")
    (root / "big").mkdir(exist_ok=True)
    (root / "big" / "model.bin").write_bytes(b"\0" * 1000)
    (root / "notes.tmp").write_text("scratch")
    (root / "data").mkdir(exist_ok=True)
    (root / "data" / "input.csv").write_text("a,b\n1,2\n")
    return root


def load_module(path: Path) -> ModuleType:
    """Import a project file under a unique name (each test has its own project)."""
    name = f"grid_test_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def outputs(out: Path, step: str | None = None) -> list[dict]:
    """What the steps wrote, oldest first."""
    files = sorted(out.glob("*.json"), key=lambda p: p.stat().st_mtime_ns) if out.exists() else []
    records = [json.loads(p.read_text()) for p in files]
    return [r for r in records if step is None or r["step"] == step]


def simple_pipeline(
    steps_module: ModuleType, *, pipeline_params: dict | None = None, **step_params: dict
) -> GridPipeline:
    """Pipeline ``fit`` (Python) → ``report`` (script), with the given defaults."""
    return GridPipeline(
        name="train",
        parameters=pipeline_params if pipeline_params is not None else {"lr": 0.1},
        steps=[
            GridStep(name="fit", fn=steps_module.fit, parameters=step_params.get("fit", {})),
            GridStep(
                name="report",
                script="report.py",
                parameters=step_params.get("report", {"level": 1}),
                deps=("fit",),
            ),
        ],
    )


def evaluate(
    job: GridJob, instance: dg.DagsterInstance, at: datetime | None = None
) -> list[dg.RunRequest]:
    """Evaluate the job's sensor once, as the daemon does; returns its (resolved) run requests."""
    if at is not None:
        job.clock = lambda: at
    context = dg.build_sensor_context(
        instance=instance, instance_ref=instance.get_ref(), definitions=job.definitions
    )
    data = job.sensor.evaluate_tick(context)
    return list(data.run_requests or [])


def skip_message(job: GridJob, instance: dg.DagsterInstance, at: datetime | None = None) -> str:
    if at is not None:
        job.clock = lambda: at
    context = dg.build_sensor_context(
        instance=instance, instance_ref=instance.get_ref(), definitions=job.definitions
    )
    data = job.sensor.evaluate_tick(context)
    assert not data.run_requests, data.run_requests
    return data.skip_message or ""


def record_runs(
    job: GridJob,
    instance: dg.DagsterInstance,
    requests: Sequence[dg.RunRequest],
    status: dg.DagsterRunStatus = dg.DagsterRunStatus.SUCCESS,
) -> list[dg.DagsterRun]:
    """Create the requested runs in the instance with ``status``, without executing them.

    (A QUEUED run needs a code location's origin, which only the daemon's launch path has;
    NOT_STARTED is the waiting state a test can create, and Orchest calls both PENDING.)
    """
    runs = []
    for request in requests:
        tags = {**request.tags, "dagster/run_key": request.run_key or ""}
        run = instance.create_run_for_job(
            job.job_def, run_config=request.run_config, tags=tags, status=status
        )
        runs.append(run)
    return runs


def finish_run(
    instance: dg.DagsterInstance, run: dg.DagsterRun, status: dg.DagsterRunStatus
) -> None:
    """Move a recorded run to an end state through the instance's event log."""
    kinds = {
        dg.DagsterRunStatus.SUCCESS: DagsterEventType.PIPELINE_SUCCESS,
        dg.DagsterRunStatus.FAILURE: DagsterEventType.PIPELINE_FAILURE,
        dg.DagsterRunStatus.CANCELED: DagsterEventType.PIPELINE_CANCELED,
        dg.DagsterRunStatus.STARTED: DagsterEventType.PIPELINE_START,
    }
    event = DagsterEvent(event_type_value=kinds[status].value, job_name=run.job_name)
    instance.report_dagster_event(event, run_id=run.run_id)
    current = instance.get_run_by_id(run.run_id)
    assert current is not None
    assert current.status == status, current
