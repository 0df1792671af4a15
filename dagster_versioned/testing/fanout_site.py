"""The fan-out pipelines the executor tests and ``benchmarks/bench_executors.py`` run, and how
they launch them.

``DEFINITIONS`` is a definitions file (written into the test's folder, so every worker process
can reconstruct the job from it): ``py`` (a Python body) and ``sh`` (a ``transform.cmd`` body)
each fan ~60 one-file datums out over four batch steps and write, per datum, the PID of the
process that ran it; ``total`` below ``py`` counts its files in the same run. ``launch`` runs the
asset job in a process of its own (the launching process), on the executor the file names.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

from dagster_versioned import GLOBAL_ID_TAG
from dagster_versioned.pps.ids import JobId
from dagster_versioned.pps.jobs import JobInfo, JobStore
from dagster_versioned.store import Store

FILES = 60
BATCHES = 4

DEFINITIONS = '''
import json
import os
import time
from pathlib import Path

import dagster as dg

from dagster_versioned import Datum, pfs, pipeline, pipeline_from_spec, versioned_definitions

STORAGE = {storage!r}
OPTIONS = json.loads({options!r})
SLOW = Path({slow!r})


@pipeline(input=pfs("numbers", glob="/*"), fan_out={batches}, datum_tries=3)
def py(datum: Datum) -> None:
    """Copies each file, prefixed with the PID that ran it; while ``SLOW`` exists, says it is
    waiting (``waiting-<pid>`` beside it) and waits."""
    while SLOW.exists():
        (SLOW.parent / f"waiting-{{os.getpid()}}").touch()
        time.sleep(0.05)
    for src in datum.files():
        time.sleep({work_seconds})  # a datum's work: long enough for the scheduler to spread
        (datum.out / src.name).write_text(f"{{os.getpid()}} {{src.read_text()}}")


@pipeline(input=pfs("py", glob="/"))
def total(datum: Datum) -> None:
    (datum.out / "count").write_text(str(len(list(datum.files()))))


defs = versioned_definitions(
    [py, total, pipeline_from_spec({sh_spec!r}, fan_out={batches})],
    storage=STORAGE,
    storage_options=OPTIONS,
    executor={executor},
)
'''

SH_SCRIPT = (
    "for f in /pfs/numbers/*; do sleep {work_seconds}; "
    'echo "$PPID $(cat "$f")" > /pfs/out/$(basename "$f"); done'
)

LAUNCH = """
import json, sys
import dagster as dg
from dagster._core.definitions.reconstruct import ReconstructableRepository

repo = ReconstructableRepository.for_file(sys.argv[1], "defs")
recon = repo.get_reconstructable_job("__ASSET_JOB")
with dg.DagsterInstance.get() as instance:
    result = dg.execute_job(
        recon,
        instance=instance,
        tags=json.loads(sys.argv[2]),
        asset_selection=[dg.AssetKey(k) for k in sys.argv[3].split(",")],
        raise_on_error=False,
    )
    print(json.dumps({"success": result.success, "run_id": result.run_id}))
"""


@dataclass
class Site:
    """A folder with the definitions file, the store, and the Dagster instance's home."""

    root: Path
    store: Store
    storage: str
    options: dict[str, Any]
    home: Path
    slow: Path

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "DAGSTER_HOME": str(self.home)}


def s3_location(endpoint: str) -> tuple[str, dict[str, Any]]:
    """A fresh bucket on the S3 server: the store's URL and its storage options."""
    import uuid

    import boto3

    bucket = f"dv-exec-{uuid.uuid4().hex[:16]}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    options = {
        "client_kwargs": {"endpoint_url": endpoint},
        "key": "testing",
        "secret": "testing",
        "skip_instance_cache": True,
    }
    return f"s3://{bucket}/store", options


def dagster_home(root: Path) -> Path:
    """A fresh Dagster home (the instance the run and every worker share), its databases made
    before any process opens them."""
    home = root / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with dg.DagsterInstance.from_config(str(home)):
        pass
    return home


def make_site(
    root: Path,
    home: Path,
    storage: str,
    options: dict[str, Any],
    executor: str,
    *,
    files: int = FILES,
    work_seconds: float = 0.02,
) -> Site:
    """Write the definitions for ``executor`` (Python source of an executor definition) and an
    input repo of ``files`` one-file datums, each taking ``work_seconds``; ``home`` is the
    instance's Dagster home."""
    store = Store.open(storage, **options)
    store.create_repo("numbers")
    with store.commit("numbers@master") as c:
        for i in range(files):
            c.put_file(f"/{i:03d}", str(i).encode())
    spec = root / "sh.json"
    spec.write_text(
        json.dumps(
            {
                "pipeline": {"name": "sh"},
                "input": {"pfs": {"repo": "numbers", "glob": "/*"}},
                "transform": {"cmd": ["sh", "-c", SH_SCRIPT.format(work_seconds=work_seconds)]},
                "datum_tries": 3,
            }
        )
    )
    slow = root / "slow"
    (root / "defs.py").write_text(
        DEFINITIONS.format(
            storage=storage,
            options=json.dumps(options),
            slow=str(slow),
            sh_spec=str(spec),
            batches=BATCHES,
            executor=executor,
            work_seconds=work_seconds,
        )
    )
    return Site(root, store, storage, options, home, slow)


def launch(site: Site, assets: list[str], timeout: float = 400) -> tuple[bool, str, int]:
    """Run ``assets`` at the head of ``numbers`` in a launching process of its own; returns
    (success, run id, the launching process's PID)."""
    gid = site.store.inspect_commit("numbers@master").id
    proc = subprocess.Popen(
        [sys.executable, "-c", LAUNCH, str(site.root / "defs.py"),
         json.dumps({GLOBAL_ID_TAG: gid}), ",".join(assets)],
        cwd=site.root, env=site.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    out, err = proc.communicate(timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"the launching process failed ({proc.returncode}):\n{err[-4000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    return bool(result["success"]), str(result["run_id"]), proc.pid


def output_pids(store: Store, repo: str) -> dict[str, int]:
    """File → the PID written into it by the datum that made it."""
    out = {}
    for info in store.glob_file(f"{repo}@master:/*"):
        out[info.path] = int(store.get_file(f"{repo}@master:{info.path}").split()[0])
    return out


def job_of(store: Store, pipeline: str) -> JobInfo:
    gid = JobId(store.inspect_commit("numbers@master").id)
    return JobStore(store).load_job(pipeline, gid)
