"""Store benchmarks against baselines measured in the same run (issue: Foundation, part 6).

Run on demand (never in CI)::

    .venv/bin/python -m benchmarks.bench_store [--quick] [--write docs/performance.md]

Absolute times on a shared 2-core machine are noise; the ratios to a baseline timed in the
same run, on the same disk, are the figures. Each case reports the median of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dagster_versioned.store import Store

MiB = 1024 * 1024
# "nested" keeps the shape fixed as the repo grows: 100 files a directory (1k files: 10
# directories; 100k files: 1,000), so the large repo is the small one, scaled.
FILES_PER_DIR = 100


@dataclass
class Result:
    case: str
    ours: float
    baseline_name: str
    baseline: float
    goal: str

    @property
    def ratio(self) -> float:
        return self.ours / self.baseline if self.baseline else float("inf")


def median_time(
    fn: Callable[[], None], repeat: int, setup: Callable[[], None] | None = None
) -> float:
    times = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def make_files(root: Path, count: int, size: int, dirs: int = 1, seed: int = 0) -> None:
    rng = os.urandom
    for i in range(count):
        d = root / f"d{i % dirs:03d}" if dirs > 1 else root
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:06d}.bin").write_bytes(rng(size) if size > 64 else f"{seed}-{i}".encode())


def bench_large_put(work: Path, repeat: int, size_mib: int) -> Result:
    src = work / "large-src"
    make_files(src, 4, size_mib * MiB)
    counter = iter(range(1000))

    def ours() -> None:
        store = Store.open(str(work / f"store-large-{next(counter)}"))
        store.create_repo("data")
        with store.commit("data@master") as c:
            c.put_file("/", src)

    def cp() -> None:
        dest = work / f"cp-{time.perf_counter_ns()}"
        subprocess.run(["cp", "-r", str(src), str(dest)], check=True)

    sync = lambda: subprocess.run(["sync"], check=True)  # noqa: E731
    return Result(
        f"put 4 x {size_mib} MiB files", median_time(ours, repeat, sync), "cp -r",
        median_time(cp, repeat, sync), "throughput >= 0.8x cp (ratio <= 1.25)",
    )  # fmt: skip


def bench_small_files(work: Path, repeat: int, count: int) -> Result:
    src = work / "small-src"
    make_files(src, count, 4096, dirs=100)
    counter = iter(range(1000))

    def ours() -> None:
        store = Store.open(str(work / f"store-small-{next(counter)}"))
        store.create_repo("data")
        with store.commit("data@master") as c:
            c.put_file("/", src)

    def git() -> None:
        repo = work / f"git-{time.perf_counter_ns()}"
        shutil.copytree(src, repo)
        env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b",
               "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b"}  # fmt: skip
        subprocess.run(["git", "init", "-q", str(repo)], check=True, env=env)
        start = time.perf_counter()
        subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True, env=env)
        subprocess.run(["git", "-C", str(repo), "commit", "-qm", "x"], check=True, env=env)
        git_times.append(time.perf_counter() - start)

    git_times: list[float] = []
    ours_t = median_time(ours, repeat)
    for _ in range(repeat):
        git()
    return Result(
        f"add + commit {count:,} x 4 KiB files", ours_t, "git add && git commit",
        statistics.median(git_times), "faster than git (ratio < 1)",
    )  # fmt: skip


def _seeded_store(path: Path, files: int, nested: bool) -> Store:
    store = Store.open(str(path))
    store.create_repo("data")
    per_dir = FILES_PER_DIR if nested else files
    with store.commit("data@master") as c:
        for i in range(files):
            prefix = f"/d{i // per_dir:04d}" if nested else ""
            c.put_file(f"{prefix}/f{i:06d}", f"v0-{i}".encode())
    return store


def _change_100(store: Store, files: int, nested: bool, round_: int) -> None:
    per_dir = FILES_PER_DIR if nested else files
    step = max(files // 100, 1)
    with store.commit("data@master") as c:
        for i in range(0, files, step)[:100]:
            prefix = f"/d{i // per_dir:04d}" if nested else ""
            c.put_file(f"{prefix}/f{i:06d}", f"v{round_}-{i}".encode())


def bench_commit_scaling(work: Path, repeat: int, big: int, nested: bool) -> Result:
    layout = "nested" if nested else "flat"
    times = {}
    for files in (1000, big):
        store = _seeded_store(work / f"scale-{layout}-{files}", files, nested)
        fresh = Store.open(store.backend.url)  # a cold cache, like a new process
        rounds = iter(range(1, 1000))
        times[files] = median_time(
            lambda s=fresh, f=files, r=rounds: _change_100(s, f, nested, next(r)), repeat
        )
    return Result(
        f"commit 100 changed files, {big:,}-file repo ({layout})", times[big],
        "same in a 1,000-file repo", times[1000], "ratio <= 3",
    )  # fmt: skip


def machine() -> str:
    cpu = os.cpu_count()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu} cores, {mem:.0f} GiB RAM, {os.uname().sysname} {os.uname().machine}"


def render(results: list[Result], quick: bool) -> str:
    lines = [
        "| case | ours (s) | baseline | baseline (s) | ratio ours/baseline | goal |",
        "|---|---:|---|---:|---:|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.case} | {r.ours:.3f} | {r.baseline_name} | {r.baseline:.3f} | "
            f"{r.ratio:.2f} | {r.goal} |"
        )
    mode = " (--quick)" if quick else ""
    return (
        "\n".join(lines) + f"\n\nMachine: {machine()}. Date: {time.strftime('%Y-%m-%d')}{mode}.\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller data, one repeat")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write", type=Path, help="write the table into this markdown file")
    args = parser.parse_args()
    repeat = 1 if args.quick else args.repeat
    results = []
    with tempfile.TemporaryDirectory(prefix="dv-bench-", dir=os.environ.get("BENCH_DIR")) as tmp:
        work = Path(tmp)
        results.append(bench_large_put(work, repeat, 16 if args.quick else 64))
        results.append(bench_small_files(work, repeat, 2000 if args.quick else 10_000))
        big = 10_000 if args.quick else 100_000
        results.append(bench_commit_scaling(work, repeat, big, nested=True))
        results.append(bench_commit_scaling(work, repeat, big, nested=False))
    table = render(results, args.quick)
    print(table)
    if args.write:
        write_section(args.write, "Store (bench_store.py)", table)


def write_section(path: Path, title: str, body: str) -> None:
    """Replace (or append) the ``## title`` section of a markdown file."""
    text = path.read_text() if path.exists() else "# Performance\n"
    header = f"## {title}\n"
    start = text.find(header)
    if start == -1:
        text = text.rstrip("\n") + f"\n\n{header}\n{body}"
    else:
        end = text.find("\n## ", start + len(header))
        text = text[:start] + f"{header}\n{body}" + (text[end:] if end != -1 else "")
    path.write_text(text)


if __name__ == "__main__":
    main()
