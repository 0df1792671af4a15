"""VersionedIOManager against Dagster's FilesystemIOManager (issue 6, performance).

Run on demand (never in CI)::

    .venv/bin/python -m benchmarks.bench_io_manager [--rows 1000000] [--runs 20] [--repeat 3]

The same asset, returning a DataFrame of ``--rows`` rows, is materialised ``--runs`` times with
each IO manager, on local disk, against one persistent Dagster instance; each run changes one
column so no write is a byte-for-byte repeat (the store would deduplicate it). Two figures per IO
manager, each the median of ``--repeat`` rounds:

* ``materialize``: wall time of the ``--runs`` runs, Dagster's own cost included (the goal:
  VersionedIOManager at most 1.2 times FilesystemIOManager);
* ``io only``: ``handle_output`` + ``load_input`` alone, the part the IO manager controls.

``VersionedIOManager[pickle]`` stores the frame as pickle (asset metadata ``dv/format``), like the
built-in: the difference to it is the store's cost, the rest is parquet's encoding.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd

from dagster_versioned import VersionedIOManager


def make_frame(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "id": np.arange(rows, dtype=np.int64),
            "x": rng.random(rows),
            "y": rng.normal(size=rows),
            "label": pd.Categorical(rng.choice(["red", "green", "blue"], size=rows)),
            "name": [f"item-{i % 1000}" for i in range(rows)],
        }
    )


def materialize_runs(
    frame: pd.DataFrame, io_manager: Any, runs: int, home: Path, metadata: dict[str, str]
) -> float:
    counter = iter(range(runs))

    @dg.asset(name="table", metadata=metadata)
    def table() -> pd.DataFrame:
        return frame.assign(x=frame["x"] + next(counter))

    home.mkdir(parents=True)
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        start = time.perf_counter()
        for _ in range(runs):
            dg.materialize([table], resources={"io_manager": io_manager}, instance=instance)
        return time.perf_counter() - start


def io_only(frame: pd.DataFrame, io_manager: Any, runs: int, metadata: dict[str, str]) -> float:
    """handle_output then load_input, through Dagster's own contexts, ``runs`` times."""
    manager = (
        io_manager.create_io_manager(dg.build_init_resource_context())
        if isinstance(io_manager, dg.ConfigurableIOManagerFactory)
        else io_manager
    )
    key = dg.AssetKey("table")
    outs = [
        dg.build_output_context(
            asset_key=key,
            name="result",
            step_key="table",
            run_id=f"r{i}",
            definition_metadata=metadata,
        )
        for i in range(runs)
    ]
    ins = [dg.build_input_context(asset_key=key, upstream_output=out) for out in outs]
    frames = [frame.assign(x=frame["x"] + i) for i in range(runs)]
    start = time.perf_counter()
    for out, inp, value in zip(outs, ins, frames, strict=True):
        manager.handle_output(out, value)
        assert len(manager.load_input(inp)) == len(frame)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    frame = make_frame(args.rows)
    print(f"DataFrame: {args.rows:,} rows, {frame.memory_usage(deep=True).sum() / 2**20:.0f} MiB")
    with tempfile.TemporaryDirectory(prefix="bench-io-") as tmp:
        root = Path(tmp)
        rounds = iter(range(10_000))

        def builtin() -> Any:
            return dg.FilesystemIOManager(base_dir=str(root / f"fs-{next(rounds)}"))

        def ours() -> Any:
            return VersionedIOManager(storage=str(root / f"dv-{next(rounds)}"))

        contenders: list[tuple[str, Callable[[], Any], dict[str, str]]] = [
            ("FilesystemIOManager", builtin, {}),
            ("VersionedIOManager", ours, {}),
            ("VersionedIOManager[pickle]", ours, {"dv/format": "pickle"}),
        ]
        # Rounds interleave the contenders, so a burst of load on the shared machine hits all
        # of them alike; one unmeasured run first pays for imports and caches.
        materialize_runs(frame, builtin(), 1, root / "warmup", {})
        times: dict[str, list[tuple[float, float]]] = {name: [] for name, _, _ in contenders}
        for _ in range(args.repeat):
            for name, factory, meta in contenders:
                home = root / f"home-{next(rounds)}"
                mat = materialize_runs(frame, factory(), args.runs, home, meta)
                times[name].append((mat, io_only(frame, factory(), args.runs, meta)))
        results = {
            name: (statistics.median(m for m, _ in ts), statistics.median(i for _, i in ts))
            for name, ts in times.items()
        }
    base_mat, base_io = results["FilesystemIOManager"]
    print(f"{'':28} {'materialize x' + str(args.runs):>16} {'io only x' + str(args.runs):>12}")
    for name, (mat, io) in results.items():
        ratios = f"ratio {mat / base_mat:.2f} x  {io / base_io:.2f} x"
        print(f"{name:28} {mat:14.2f} s {io:10.2f} s   {ratios}")
    print("goal: materialize ratio <= 1.20")


if __name__ == "__main__":
    main()
