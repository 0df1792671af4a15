"""Per-batch overhead of fan-out on each executor: the same pipeline, batch size and S3 store
on Dagster's multiprocess executor (the baseline, measured in the same run), a Dask cluster and
Celery workers; datums per second, the ratio to multiprocess, and the S3 requests per batch.

The clusters are ``dagster_versioned.testing.clusters``'s (real ``dask`` and
``dagster-celery``/``redis-server`` processes on 127.0.0.1, two single-threaded workers each),
the store is on moto's S3 server, and each run is the ``py`` pipeline of
``dagster_versioned.testing.fanout_site`` with no work in a datum, so what is timed is the
executor and the store. ``python -m benchmarks.bench_executors [--datums 400] [--out
docs/performance.md]`` (run on demand, not in CI).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from benchmarks.bench_store import write_section
from benchmarks.run import machine_summary
from dagster_versioned.testing.clusters import CELERY_REDELIVERY, celery_cluster, dask_cluster
from dagster_versioned.testing.fanout_site import BATCHES, dagster_home, launch, make_site
from dagster_versioned.testing.s3server import MotoServer, s3_client

Executor = Callable[[Path, dict[str, str]], AbstractContextManager[str]]
"""Starts an executor's cluster for a Dagster home; yields the executor's Python source."""


@contextmanager
def multiprocess(root: Path, env: dict[str, str]) -> Iterator[str]:
    yield 'dg.multiprocess_executor.configured({"max_concurrent": 2})'


@contextmanager
def dask(root: Path, env: dict[str, str]) -> Iterator[str]:
    with dask_cluster(root / "cluster", env) as (address, _):
        yield (
            '__import__("dagster_dask").dask_executor.configured('
            f'{{"cluster": {{"existing": {{"address": "{address}"}}}}}})'
        )


@contextmanager
def celery(root: Path, env: dict[str, str]) -> Iterator[str]:
    with celery_cluster(root / "cluster", env) as (broker, _):
        yield (
            '__import__("dagster_celery").celery_executor.configured('
            f'{{"broker": "{broker}", "backend": "{broker}", '
            f'"config_source": {CELERY_REDELIVERY!r}}})'
        )


TIMES = "\u00d7"

EXECUTORS: dict[str, Executor] = {"multiprocess": multiprocess, "dask": dask, "celery": celery}


def measure(server: MotoServer, name: str, datums: int, runs: int, tmp: Path) -> dict[str, Any]:
    """Median seconds of ``runs`` first runs (each on a fresh store) and S3 requests per batch."""
    seconds, per_batch = [], []
    areas: Counter[str] = Counter()
    for r in range(runs):
        root = tmp / f"{name}-{r}"
        root.mkdir()
        home = dagster_home(root)
        env = {**os.environ, "DAGSTER_HOME": str(home)}
        bucket = f"bench-{name}-{r}"
        s3_client(server.endpoint).create_bucket(Bucket=bucket)
        options = {
            "client_kwargs": {"endpoint_url": server.endpoint},
            "key": "testing",
            "secret": "testing",
            "skip_instance_cache": True,
        }
        with EXECUTORS[name](root, env) as executor:
            site = make_site(
                root, home, f"s3://{bucket}/store", options, executor, files=datums, work_seconds=0
            )
            mark = server.mark()
            started = time.perf_counter()
            ok, _, _ = launch(site, ["py"], timeout=1800)
            seconds.append(time.perf_counter() - started)
            answered = server.requests_since(mark)
            requests = len(answered)
            areas.update(f"{r.kind} {area(r.path)}" for r in answered)
        if not ok:
            raise RuntimeError(f"the {name} run failed; see {root}")
        per_batch.append(requests / BATCHES)
    top = ", ".join(f"{k} {v / runs / BATCHES:.0f}" for k, v in areas.most_common(4))
    return {
        "seconds": statistics.median(seconds),
        "requests_per_batch": min(per_batch),
        "areas": top,
    }


def area(path: str) -> str:
    """The store area a request touched (``packs``, ``objects``, ``jobs``, ``workers``, …):
    the key's first folder under the store root, or a listing's prefix's."""
    target, _, query = path.partition("?")
    key = "/".join(target.strip("/").split("/")[1:])  # drop the bucket
    if not key:
        key = urllib.parse.parse_qs(query).get("prefix", [""])[0]
    parts = key.split("/")
    return parts[1] if len(parts) > 1 and parts[1] else (parts[0] or "(bucket)")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--datums", type=int, default=400)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory() as tmp, MotoServer(Path(tmp) / "moto.log") as server:
        for name in EXECUTORS:
            results[name] = measure(server, name, args.datums, args.runs, Path(tmp))
            print(name, results[name], flush=True)
    base = results["multiprocess"]["seconds"]
    rows = [
        "| executor | run (s, median) | datums/s | vs multiprocess | S3 requests per batch "
        "| most per batch (kind, area) |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, r in results.items():
        rows.append(
            f"| {name} | {r['seconds']:.1f} | {args.datums / r['seconds']:.0f} | "
            f"{base / r['seconds']:.2f}{TIMES} | {r['requests_per_batch']:.0f} | {r['areas']} |"
        )
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    body = (
        f"Measured {time.strftime('%Y-%m-%d')} at commit {commit or 'unknown'} on "
        f"{machine_summary(Path(tempfile.gettempdir()))}.\n\n"
        f"{args.datums} one-file datums of a Python body with no work, fan_out={BATCHES} "
        f"({args.datums // BATCHES} datums per batch), store on moto's S3 server; each run is a "
        "whole Dagster run launched from its own process (planning, batches, finishing); "
        f"median of {args.runs} first runs on fresh stores "
        "(`python -m benchmarks.bench_executors`).\n\n" + "\n".join(rows) + "\n"
    )
    print(body)
    if args.out:
        write_section(args.out, "Fan-out on executors (bench_executors.py)", body)


if __name__ == "__main__":
    main()
