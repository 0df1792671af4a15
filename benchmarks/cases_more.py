"""Cases E to H of ``benchmarks.run``: by-reference operations, S3 request counts, pipelines and
the IO manager. These measure our store against itself (a smaller file, a first run) or against
Dagster's built-in IO manager: git, DVC and Oxen have no operation to put beside them."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import statistics
import subprocess
import time
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.results import Pair, S3Op
from dagster_versioned.store import Store

if TYPE_CHECKING:
    from benchmarks.run import Bench

MiB = 1024 * 1024


def _random_file(path: Path, mib: int) -> None:
    with path.open("wb") as f:
        for _ in range(mib):
            f.write(os.urandom(MiB))


_QUICK_REPEAT = 15
"""Repetitions of E's millisecond operations (their median is the figure)."""


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# ---------------------------------------------------------------- E


def by_reference(bench: Bench) -> None:
    """Branch from a commit, move a head, copy a file by reference: the large file must cost
    what the small one does. Each timing opens the store afresh (like ``dvctl``)."""
    small, large = bench.sizes.e_mib
    bench_log(f"E: by-reference operations, {small} MiB against {large} MiB")
    times: dict[int, dict[str, float]] = {}
    for mib in (small, large):
        work = bench.base / f"e-{mib}"
        work.mkdir()
        _random_file(work / "big.bin", mib)
        url = str(work / "store")
        store = Store.open(url)
        store.create_repo("data")
        store.put_file("data@master:/big.bin", work / "big.bin")
        store.put_file("data@master:/note.txt", b"second commit")

        def branch(r: int, url: str = url) -> float:
            return _timed(lambda: Store.open(url).create_branch(f"data@b{r}", head="data@master^1"))

        def move(r: int, url: str = url) -> float:
            return _timed(lambda: Store.open(url).create_branch(f"data@b{r}", head="data@master"))

        def copy(r: int, url: str = url) -> float:
            return _timed(
                lambda: Store.open(url).copy_file("data@master:/big.bin", f"data@b{r}:/copy.bin")
            )

        def cp(r: int, work: Path = work) -> float:
            return _timed(
                lambda: subprocess.run(
                    ["cp", str(work / "big.bin"), str(work / f"copy-{r}.bin")], check=True
                )
            )

        # A by-reference operation takes a millisecond or two, where one scheduling hiccup on a
        # shared machine is a millisecond too: its median is over more repetitions than the
        # other cases' (each a fresh branch, so none repeats another's work).
        quick = max(bench.sizes.repeat, _QUICK_REPEAT)
        times[mib] = {
            name: statistics.median([fn(r) for r in range(quick)])
            for name, fn in (("branch", branch), ("move", move), ("copy", copy))
        }
        times[mib]["cp"] = bench.repeat(cp)
        shutil.rmtree(work, ignore_errors=True)
    labels = {
        "branch": "create a branch from a commit",
        "move": "move a branch head",
        "copy": "copy a file by reference (one commit)",
        "cp": "for scale: `cp` of the file",
    }
    for name, label in labels.items():
        bench.report.pairs.append(
            Pair(
                f"E.{name}",
                "E",
                f"{label}, {large:,} MiB file",
                times[large][name],
                f"same, {small} MiB file",
                times[small][name],
            )
        )


def bench_log(message: str) -> None:
    from benchmarks.run import log

    log(message)


# ---------------------------------------------------------------- F


def on_s3(bench: Bench) -> None:
    """The store on moto's S3 server, each operation's HTTP requests counted by the server."""

    from dagster_versioned.testing.s3server import MotoServer, count_by_kind

    s = bench.sizes
    bench_log(f"F: S3 (moto) request counts, {s.s3_files[0]:,}- and {s.s3_files[1]:,}-file repos")
    with MotoServer(bench.base / "moto.log") as server:
        options: dict[str, Any] = server.storage_options
        server.create_bucket("bench")

        def measure(
            key: str, label: str, url: str, fn: Callable[[Store, int], object], repeat: int = 0
        ) -> None:
            runs: list[tuple[float, Counter[str]]] = []
            for r in range(repeat or s.repeat):
                store = Store.open(url, **options)
                mark = server.mark()
                seconds = _timed(lambda store=store, r=r: fn(store, r))
                runs.append((seconds, count_by_kind(server.requests_since(mark))))
            runs.sort(key=lambda run: run[0])
            seconds, counts = runs[len(runs) // 2]
            bench.report.s3.append(S3Op(key, label, counts, seconds))

        first_url = f"s3://bench/store-{s.s3_files[0]}"
        mark = server.mark()
        seconds = _timed(lambda: Store.open(first_url, **options))
        bench.report.s3.append(
            S3Op("F.open", "open a new store", count_by_kind(server.requests_since(mark)), seconds)
        )
        for n in s.s3_files:
            _s3_repo(bench, measure, f"s3://bench/store-{n}", n, first=n == s.s3_files[0])
        last_url = f"s3://bench/store-{s.s3_files[1]}"
        measure(
            "F.branch",
            "create a branch from a commit",
            last_url,
            lambda st, r: st.create_branch(f"data@b{r}", head="data@master^1"),
        )
        measure(
            "F.move",
            "move a branch head",
            last_url,
            lambda st, r: st.create_branch(f"data@b{r}", head="data@master"),
        )
        measure(
            "F.copy",
            "copy a file by reference (one commit)",
            last_url,
            lambda st, r: st.copy_file("data@master:/d0000/f000000.bin", f"data@b{r}:/copy.bin"),
        )


def _s3_repo(
    bench: Bench, measure: Callable[..., None], url: str, files: int, *, first: bool
) -> None:
    from benchmarks.run import file_names, make_tree, spread

    size = bench.sizes.file_size
    names = file_names(files, nested=True)
    src = bench.base / f"s3-src-{files}"
    make_tree(src, names, size)
    measure(f"F.repo.{files}", "create a repo", url, lambda st, r: st.create_repo("data"), 1)
    if not first:  # the same as in the first store
        bench.report.s3.pop()

    def load(st: Store, r: int) -> None:
        with st.commit("data@master") as c:
            c.put_file("/", src)

    measure(f"F.load.{files}", f"first commit of {files:,} files", url, load, 1)
    one = names[len(names) // 2]
    measure(
        f"F.put1.{files}",
        f"one-shot `put_file` of 1 file, {files:,}-file repo",
        url,
        lambda st, r: st.put_file(f"data@master:/{one}", os.urandom(size)),
    )
    picked = spread(names, 100)

    def hundred(st: Store, r: int) -> None:
        with st.commit("data@master") as c:
            for rel in picked:
                c.put_file(f"/{rel}", os.urandom(size))

    measure(f"F.put100.{files}", f"commit of 100 changed files, {files:,}-file repo", url, hundred)
    shutil.rmtree(src, ignore_errors=True)


# ---------------------------------------------------------------- G


def pipelines(bench: Bench) -> None:
    from benchmarks.bench_pipeline import first_and_rerun

    datums = bench.sizes.datums
    bench_log(f"G: pipeline over {datums:,} datums, then a rerun after 1 changed datum")
    firsts: list[float] = []
    reruns: list[float] = []
    processed = skipped = -1
    for r in range(bench.sizes.repeat):
        store = Store.open(str(bench.base / f"g-{r}"))
        _, first_s, rerun, rerun_s = first_and_rerun(store, datums)
        firsts.append(first_s)
        reruns.append(rerun_s)
        processed, skipped = rerun.data_processed, rerun.data_skipped
    firsts.sort()
    reruns.sort()
    bench.report.pairs.append(
        Pair(
            "G",
            "G",
            f"pipeline rerun after 1 changed datum ({processed} processed, {skipped:,} skipped)",
            reruns[len(reruns) // 2],
            f"first run, {datums:,} datums",
            firsts[len(firsts) // 2],
        )
    )


# ---------------------------------------------------------------- H


def io_managers(bench: Bench) -> None:
    import dagster as dg

    from benchmarks.bench_io_manager import make_frame, materialize_runs
    from dagster_versioned import VersionedIOManager

    s = bench.sizes
    bench_log(f"H: IO managers, {s.io_runs} materializations of a {s.io_rows:,}-row DataFrame")
    warnings.filterwarnings("ignore")
    frame = make_frame(s.io_rows)
    root = bench.base / "h"
    rounds = iter(range(10_000))

    def builtin() -> Any:
        return dg.FilesystemIOManager(base_dir=str(root / f"fs-{next(rounds)}"))

    def ours() -> Any:
        return VersionedIOManager(storage=str(root / f"dv-{next(rounds)}"))

    contenders: list[tuple[str, Callable[[], Any], dict[str, str]]] = [
        ("fs", builtin, {}),
        ("default", ours, {}),
        ("pickle", ours, {"dv/format": "pickle"}),
    ]
    with contextlib.redirect_stderr(io.StringIO()):
        materialize_runs(frame, builtin(), 1, root / "warmup", {})
    times: dict[str, list[float]] = {name: [] for name, _, _ in contenders}
    for _ in range(s.repeat):  # interleaved, so a burst of load hits every contender alike
        for name, factory, meta in contenders:
            home = root / f"home-{next(rounds)}"
            with contextlib.redirect_stderr(io.StringIO()):  # Dagster's per-run debug log
                timing = materialize_runs(frame, factory(), s.io_runs, home, meta)
            times[name].append(float(getattr(timing, "wall", timing)))  # Timing or seconds
    med = {name: sorted(ts)[len(ts) // 2] for name, ts in times.items()}
    what = f"materialize x{s.io_runs}, {s.io_rows:,}-row DataFrame"
    bench.report.pairs.append(
        Pair(
            "H.default",
            "H",
            f"{what}: VersionedIOManager",
            med["default"],
            "FilesystemIOManager",
            med["fs"],
        )
    )
    bench.report.pairs.append(
        Pair(
            "H.pickle",
            "H",
            f"{what}: VersionedIOManager, `dv/format: pickle`",
            med["pickle"],
            "FilesystemIOManager",
            med["fs"],
        )
    )
