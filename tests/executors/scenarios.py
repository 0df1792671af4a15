"""What every executor must do with a fanned-out pipeline, written once for Dask and Celery.

Each scenario takes a ``Site`` (definitions, store, instance) and the cluster's ``Processes``;
``worker_pids`` names the processes that run steps (the ones a kill may hit), and ``after_kill``
restarts a killed worker where the engine does not do it itself (Celery).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable

from dagster_versioned.errors import VersionedError
from dagster_versioned.pps.jobs import JobInfo, JobState
from dagster_versioned.testing.clusters import BIN, Processes
from dagster_versioned.testing.fanout_site import FILES, Site, job_of, launch, output_pids


def runs_spread_over_workers(site: Site, procs: Processes, s3_endpoint: str) -> None:
    """The run succeeds; each pipeline's outputs come from two or more worker processes (never
    the launching one); the output commits have the input commit's global id; the job records
    match ``dvctl inspect job --raw``; the downstream pipeline in the same run sees the output;
    after one more input file, the next run processes 1 datum and skips the rest."""
    launchers = {}
    for assets in (["py", "total"], ["sh"]):  # one pipeline at a time: each must spread
        ok, _, launchers[assets[0]] = launch(site, assets)
        assert ok, procs.logs()

    gid = site.store.inspect_commit("numbers@master").id
    for repo, launcher in launchers.items():
        pids = output_pids(site.store, repo)
        assert len(pids) == FILES
        workers = set(pids.values()) - {launcher}
        assert len(workers) >= 2, (repo, sorted(set(pids.values())), launcher)
        assert launcher not in set(pids.values())
        assert site.store.inspect_commit(f"{repo}@master").id == gid
        job = job_of(site.store, repo)
        assert job.state == JobState.SUCCESS
        assert (job.data_processed, job.data_skipped, job.data_total) == (FILES, 0, FILES)
        raw = json.loads(
            subprocess.run(
                [str(BIN / "dvctl"), "--storage", site.storage, "inspect", "job",
                 f"{repo}@{gid}", "--raw"],
                env={**os.environ, "AWS_ENDPOINT_URL": s3_endpoint}, capture_output=True,
                text=True, check=True,
            ).stdout
        )  # fmt: skip
        assert raw["state"] == "JOB_SUCCESS"
        assert raw["data_processed"] == str(FILES)
        assert raw["data_total"] == str(FILES)
        assert raw["output_commit"]["id"] == gid
    assert site.store.get_file("total@master:/count") == str(FILES).encode()

    site.store.put_file("numbers@master:/new", b"new")
    ok, _, _ = launch(site, ["py", "sh", "total"])
    assert ok, procs.logs()
    for repo in ("py", "sh"):
        job = job_of(site.store, repo)
        assert (job.data_processed, job.data_skipped) == (1, FILES), repo


def survives_a_killed_worker(
    site: Site,
    procs: Processes,
    worker_pids: Callable[[], dict[int, str]],
    after_kill: Callable[[str], None] = lambda name: None,
) -> None:
    """SIGKILL the worker process inside one of ``py``'s datums: the batch is retried on a
    surviving worker within ``datum_tries`` and the job succeeds with every datum counted once,
    or the job ends FAILURE naming the lost batch — never a partial output commit."""
    before = head(site, "py")
    done_before = len(output_pids(site.store, "py")) if before else 0
    with site.store.commit("numbers@master") as c:
        for i in range(9):
            c.put_file(f"/more{i}", str(i).encode())
    new = {f"/more{i}" for i in range(9)}
    total = len(site.store.glob_file("numbers@master:/*"))
    site.slow.write_text("hold")  # py's datums wait (saying so) until the kill
    killed: list[int] = []

    def kill_a_busy_worker() -> None:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not killed:
            pids = worker_pids()
            for marker in site.root.glob("waiting-*"):
                pid = int(marker.name.split("-")[1])
                if pid in pids:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    after_kill(pids[pid])
                    break
            time.sleep(0.1)
        site.slow.unlink(missing_ok=True)

    killer = threading.Thread(target=kill_a_busy_worker)
    killer.start()
    try:
        ok, run_id, _ = launch(site, ["py"])
    finally:
        killer.join()
        site.slow.unlink(missing_ok=True)
    assert killed, "no worker was ever inside a datum"
    job = job_of(site.store, "py")
    if ok:
        assert job.state == JobState.SUCCESS, job
        assert (job.data_processed, job.data_skipped, job.data_total) == (
            total - done_before,
            done_before,
            total,
        )
        made_by = {pid for path, pid in output_pids(site.store, "py").items() if path in new}
        assert made_by
        assert killed[0] not in made_by  # the lost batch was made again
        assert site.store.inspect_commit("py@master").id == job.id
    else:
        job = settle_failed_run(site, run_id)
        assert job.state == JobState.FAILURE, job
        assert "batch" in job.reason or "worker" in job.reason, job.reason
        assert head(site, "py") == before  # no partial output commit


def settle_failed_run(site: Site, run_id: str) -> JobInfo:
    """Evaluate the ``dv_failure_runs`` run-status sensor on the failed run, as the daemon of a
    deployment does, and return ``py``'s job afterwards."""
    import importlib.util

    import dagster as dg

    spec = importlib.util.spec_from_file_location("executor_defs", site.root / "defs.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sensor = module.defs.get_sensor_def("dv_failure_runs")
    with dg.DagsterInstance.from_config(str(site.home)) as instance:
        event = next(
            e
            for e in instance.all_logs(run_id)
            if e.dagster_event and e.dagster_event.event_type_value == "PIPELINE_FAILURE"
        )
        sensor(
            dg.build_run_status_sensor_context(
                sensor_name=sensor.name,
                dagster_instance=instance,
                dagster_run=instance.get_run_by_id(run_id),
                dagster_event=event.dagster_event,
            )
        )
    return job_of(site.store, "py")


def head(site: Site, repo: str) -> str | None:
    """The head commit of ``repo@master``, or ``None`` before the repo's first run."""
    try:
        return site.store.inspect_commit(f"{repo}@master").id
    except VersionedError:
        return None
