"""Pipeline benchmark: a 10,000-datum job, then a rerun after one input changed.

Run on demand: ``.venv/bin/python -m benchmarks.bench_pipeline [--datums N]``. The goal (issue:
pipelines) is that the rerun processes one datum and takes at most 5% of the first run's time;
datum throughput is measured on a no-op body (the runner's own cost per datum).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from benchmarks.bench_store import write_section
from dagster_versioned.pps.inputs import pfs
from dagster_versioned.pps.jobs import JobInfo
from dagster_versioned.pps.runner import run_job
from dagster_versioned.pps.spec import PipelineSpec
from dagster_versioned.pps.transform import Datum
from dagster_versioned.store import Store


def noop(datum: Datum) -> None:
    (datum.out / f"{datum.id}.out").write_bytes(b"x")


def first_and_rerun(store: Store, datums: int) -> tuple[JobInfo, float, JobInfo, float]:
    """Run a no-op pipeline over ``datums`` input files, change one, run again.

    Returns (first job, its seconds, rerun job, its seconds).
    """
    store.create_repo("inputs")
    with store.commit("inputs@master") as c:
        for i in range(datums):
            c.put_file(f"/f{i:06d}", f"input {i}".encode())
    spec = PipelineSpec(name="noop", input=pfs("inputs", "/*"), fn=noop)
    t0 = time.perf_counter()
    first = run_job(store, spec, store.inspect_commit("inputs@master").id)
    first_s = time.perf_counter() - t0
    store.put_file(f"inputs@master:/f{datums // 2:06d}", b"changed")
    t0 = time.perf_counter()
    rerun = run_job(store, spec, store.inspect_commit("inputs@master").id)
    return first, first_s, rerun, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datums", type=int, default=10_000)
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dv-bench-pipe-") as tmp:
        store = Store.open(str(Path(tmp) / "store"))
        first, first_s, rerun, rerun_s = first_and_rerun(store, args.datums)
    table = (
        "| run | datums processed + skipped / total | seconds | datums/s |\n|---|---|---:|---:|\n"
        f"| first | {first.data_processed} + {first.data_skipped} / {first.data_total} | "
        f"{first_s:.2f} | {first.data_processed / first_s:.0f} |\n"
        f"| rerun after 1 change | {rerun.data_processed} + {rerun.data_skipped} / "
        f"{rerun.data_total} | {rerun_s:.2f} | - |\n\n"
        f"Rerun / first run: {rerun_s / first_s:.1%} (goal: at most 5%). "
        f"Date: {time.strftime('%Y-%m-%d')}.\n"
    )
    print(table)
    if args.write:
        write_section(args.write, "Pipelines (bench_pipeline.py)", table)


if __name__ == "__main__":
    main()
