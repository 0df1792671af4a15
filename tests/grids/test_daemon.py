"""End to end: ``dagster-daemon run`` schedules grid jobs.

The daemon runs as a real process against a temporary DAGSTER_HOME whose run queue admits one
run at a time, and a definitions file written by the test with two grid jobs: a one-off job
that starts a few seconds after it is created, with two cells, and a cron job that ticks
every ten seconds (croniter's sixth field is seconds). The test waits (at most ``TIMEOUT``
seconds) until the one-off batch has succeeded and the cron job has run two batches, then
checks that runs went one at a time, first in first out, from the snapshot.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from dagster_versioned.gridcore.tags import BATCH_TAG, CELL_TAG, GRID_JOB_TAG
from dagster_versioned.grids import GridJobStatus, GridPipeline, GridStep, grid_job

TIMEOUT = 150.0
CRON = "* * * * * */10"

WORK_PY = """\
import json, os, time, uuid
from pathlib import Path
from dagster_versioned.gridcore.params import get_pipeline_param
start = time.time()
time.sleep(0.5)
out = Path(os.environ["GRID_OUT"])
out.mkdir(parents=True, exist_ok=True)
(out / f"{uuid.uuid4().hex}.json").write_text(json.dumps({
    "job": os.environ["DV_GRID_JOB"], "n": get_pipeline_param("n"), "start": start,
    "end": time.time(), "version": "v1",
}))
"""

DAGSTER_YAML = """\
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: 1
    dequeue_interval_seconds: 1
telemetry:
  enabled: false
"""


def _definitions(project: Path, storage: str, runs: Path, out: Path) -> str:
    return textwrap.dedent(
        f"""\
        from dagster_versioned.grids import GridPipeline, GridStep, grid_job, grid_job_definitions

        pipeline = GridPipeline(
            name="e2e", parameters={{"n": 0}}, steps=[GridStep(name="work", script="work.py")]
        )
        options = dict(
            snapshot={str(project)!r},
            storage={storage!r},
            workdir_root={str(runs)!r},
            env={{"GRID_OUT": {str(out)!r}}},
            tick_interval=1,
        )
        defs = grid_job_definitions(
            grid_job("daemon_job", pipeline, **options),
            grid_job("daemon_cron", pipeline, schedule=CRON, **options),
        )
        """
    )


@pytest.mark.dagster
@pytest.mark.slow
@pytest.mark.timeout(TIMEOUT + 60)
def test_dagster_daemon_runs_a_one_off_grid_job_at_its_time(tmp_path: Path) -> None:
    home, project, out, runs = (tmp_path / n for n in ("home", "project", "out", "runs"))
    home.mkdir()
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    project.mkdir()
    (project / "work.py").write_text(WORK_PY)
    storage = str(tmp_path / "store")
    pipeline = GridPipeline(
        name="e2e", parameters={"n": 0}, steps=[GridStep(name="work", script="work.py")]
    )
    start_at = datetime.now(UTC) + timedelta(seconds=5)
    job = grid_job(
        "daemon_job",
        pipeline,
        {"pipeline_parameters": {"n": [1, 2]}},
        at=start_at,
        snapshot=project,
        storage=storage,
        workdir_root=runs,
        env={"GRID_OUT": str(out)},
    )
    defs_file = tmp_path / "defs.py"
    cron = grid_job(
        "daemon_cron",
        pipeline,
        schedule=CRON,
        snapshot=project,
        storage=storage,
        workdir_root=runs,
        env={"GRID_OUT": str(out)},
    )
    (project / "work.py").write_text(WORK_PY.replace('"v1"', '"v2"'))  # runs use the snapshot
    defs_file.write_text(f"CRON = {CRON!r}\n" + _definitions(project, storage, runs, out))
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    env.pop("DAGSTER_VERSIONED_STORAGE", None)
    # Make the instance's databases before the daemon starts: two processes creating a fresh
    # DAGSTER_HOME's sqlite schema at once race in alembic (seen under load in CI).
    with dg.DagsterInstance.from_config(str(home)):
        pass
    daemon = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-f", str(defs_file)],
        cwd=tmp_path,
        env=env,
        stdout=(tmp_path / "daemon.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            done = _wait(lambda: job.status(instance).ended and _succeeded(cron, instance) >= 2)
            log = (tmp_path / "daemon.log").read_text(errors="replace")[-3000:]
            assert done, log
            assert job.status(instance) is GridJobStatus.SUCCESS
            dagster_runs = instance.get_runs(dg.RunsFilter(tags={GRID_JOB_TAG: job.id}))
            assert sorted(r.tags[CELL_TAG] for r in dagster_runs) == ["0", "1"]
            assert {r.tags[BATCH_TAG] for r in dagster_runs} == {"0"}
            assert cron.status(instance) is GridJobStatus.STARTED
            cron.cancel(instance)
    finally:
        _stop(daemon)
    records = sorted(
        (json.loads(p.read_text()) for p in out.glob("*.json")), key=lambda r: r["start"]
    )
    one_off = [r for r in records if r["job"] == "daemon_job"]
    assert [r["n"] for r in one_off] == [1, 2]  # first in, first out
    assert one_off[0]["start"] >= start_at.timestamp()
    assert all(a["end"] <= b["start"] for a, b in itertools.pairwise(records))  # one at a time
    assert {r["version"] for r in records} == {"v1"}
    ticks = [b.scheduled_time for b in cron.batches()[:2]]
    assert [b.index for b in cron.batches()[:2]] == [0, 1]
    assert ticks[1] - ticks[0] >= timedelta(seconds=10)


def _succeeded(job, instance: dg.DagsterInstance) -> int:
    """Batches of ``job`` whose every run succeeded."""
    runs = instance.get_runs(
        dg.RunsFilter(tags={GRID_JOB_TAG: job.id}, statuses=[dg.DagsterRunStatus.SUCCESS])
    )
    return len({r.tags[BATCH_TAG] for r in runs})


def _wait(condition) -> bool:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(1.0)
    return False


def _stop(process: subprocess.Popen) -> None:
    """Stop the daemon and the processes it started (its own process group)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
