"""VersionedIOManager against Dagster's FilesystemIOManager (issue 6, performance).

Run on demand (never in CI)::

    .venv/bin/python -m benchmarks.bench_io_manager [--rows 1000000] [--runs 20] [--rounds 5]

The same asset, returning a DataFrame of ``--rows`` rows, is materialised ``--runs`` times with
each IO manager, on local disk, against one persistent Dagster instance; each run changes one
column so no write is a byte-for-byte repeat (the store would deduplicate it). Two cases per IO
manager:

* ``materialize``: the ``--runs`` runs, Dagster's own cost included (the goal: VersionedIOManager
  at most 1.2 times FilesystemIOManager);
* ``io only``: ``handle_output`` + ``load_input`` alone, the part the IO manager controls.

Each case is timed twice: wall time, and CPU time of this process (its threads included). On a
shared machine the wall time moves with everyone else's load; the CPU time mostly does not, but
leaves out waits (fsync of Dagster's SQLite, disk writeback). The contenders run in ``--rounds``
rounds, in rotating order, so a burst of load hits each of them alike; the figures are medians
over rounds, and each ratio is the median of the per-round ratios (a round's contenders ran
back to back, under about the same load).

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd

from dagster_versioned import VersionedIOManager


@dataclass(frozen=True)
class Timing:
    wall: float
    cpu: float


class _Clock:
    """Wall and process CPU time of a block."""

    def __enter__(self) -> _Clock:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.timing = Timing(time.perf_counter() - self._wall, time.process_time() - self._cpu)


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
) -> Timing:
    counter = iter(range(runs))

    @dg.asset(name="table", metadata=metadata)
    def table() -> pd.DataFrame:
        return frame.assign(x=frame["x"] + next(counter))

    home.mkdir(parents=True)
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        with _Clock() as clock:
            for _ in range(runs):
                dg.materialize([table], resources={"io_manager": io_manager}, instance=instance)
        return clock.timing


def io_only(frame: pd.DataFrame, io_manager: Any, runs: int, metadata: dict[str, str]) -> Timing:
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
    with _Clock() as clock:
        for out, inp, value in zip(outs, ins, frames, strict=True):
            manager.handle_output(out, value)
            assert len(manager.load_input(inp)) == len(frame)
    return clock.timing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--rounds", "--repeat", type=int, default=5)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    frame = make_frame(args.rows)
    print(f"DataFrame: {args.rows:,} rows, {frame.memory_usage(deep=True).sum() / 2**20:.0f} MiB")
    with tempfile.TemporaryDirectory(prefix="bench-io-") as tmp:
        root = Path(tmp)
        dirs = iter(range(10_000))

        def builtin() -> Any:
            return dg.FilesystemIOManager(base_dir=str(root / f"fs-{next(dirs)}"))

        def ours() -> Any:
            return VersionedIOManager(storage=str(root / f"dv-{next(dirs)}"))

        contenders: list[tuple[str, Callable[[], Any], dict[str, str]]] = [
            ("FilesystemIOManager", builtin, {}),
            ("VersionedIOManager", ours, {}),
            ("VersionedIOManager[pickle]", ours, {"dv/format": "pickle"}),
        ]
        # One unmeasured run of each first pays for imports and caches.
        for _name, factory, meta in contenders:
            materialize_runs(frame, factory(), 1, root / f"warmup-{next(dirs)}", meta)
        rounds: list[dict[str, tuple[Timing, Timing]]] = []
        for r in range(args.rounds):
            shift = r % len(contenders)
            measured: dict[str, tuple[Timing, Timing]] = {}
            for name, factory, meta in contenders[shift:] + contenders[:shift]:
                home = root / f"home-{next(dirs)}"
                mat = materialize_runs(frame, factory(), args.runs, home, meta)
                measured[name] = (mat, io_only(frame, factory(), args.runs, meta))
            rounds.append(measured)
    report(rounds, args.runs, [name for name, _, _ in contenders])


def report(rounds: list[dict[str, tuple[Timing, Timing]]], runs: int, names: list[str]) -> None:
    base = names[0]
    cases = (("materialize", 0), ("io only", 1))
    print(f"{len(rounds)} rounds; medians; ratio = median over rounds of (contender / {base})")
    for case, i in cases:
        print(f"\n{case} x{runs}{'wall s':>22}{'cpu s':>9}{'wall ratio':>12}{'cpu ratio':>11}")
        for name in names:
            wall = statistics.median(r[name][i].wall for r in rounds)
            cpu = statistics.median(r[name][i].cpu for r in rounds)
            wall_ratio = statistics.median(r[name][i].wall / r[base][i].wall for r in rounds)
            cpu_ratio = statistics.median(r[name][i].cpu / r[base][i].cpu for r in rounds)
            print(f"{name:28}{wall:9.2f}{cpu:9.2f}{wall_ratio:11.2f}x{cpu_ratio:10.2f}x")
        spread = [round(r[names[1]][i].wall / r[base][i].wall, 2) for r in rounds]
        print(f"{names[1]} wall ratio per round: {spread}")
    print("\ngoal: materialize ratio <= 1.20")


if __name__ == "__main__":
    main()
