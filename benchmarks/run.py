"""Side-by-side benchmarks: our store against cp, git, DVC and Oxen, in one run (issue 10).

Run on demand (never in CI)::

    .venv/bin/python -m benchmarks.run [--quick] [--cases A,C,...] [--out docs/performance.md]

Cases (median of 3; ``--quick``: one repetition and smaller data, about two minutes):

A. 10,000 files x 4 KiB in 100 directories: init + add + commit;
B. 4 files x 64 MiB: add + commit, and read back;
C. after A, change 100 files: commit (and the same change in a 1,000-file repo);
D. a commit that touches 1 file in a 100,000-file repo, nested and flat (and in a 1,000-file one);
E. branch from a commit, move a head, copy a file by reference: 1 MiB against 1 GiB;
F. our store on a moto S3 server on 127.0.0.1, counting the HTTP requests of each operation;
G. pipelines: 10,000 datums, first run and rerun after one changed datum;
H. VersionedIOManager against FilesystemIOManager on the same asset.

Absolute times on a shared 2-core machine are noise; the ratios within one run are the figures.
Every tool gets the same files (hard-linked copies of one generated tree) on the same disk; a
changed file is replaced, never edited in place, so the copies stay independent. See
``peers.py`` for how each tool is timed.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from benchmarks.bench_store import write_section
from benchmarks.peers import PEERS, Cp, Ours, Tool, tool_env
from benchmarks.results import Goal, Report, Row, render
from dagster_versioned.store import Store

MiB = 1024 * 1024
TOOLS = ("ours", "git", "DVC", "Oxen", "cp")
SECTION = "Side by side: ours, git, DVC, Oxen and cp (benchmarks/run.py)"


@dataclass(frozen=True)
class Sizes:
    """Data sizes of one run; ``--quick`` and the test use smaller ones."""

    files: int = 10_000
    """Case A (and the 10k point of the plot): files of ``file_size`` in 100 directories."""
    file_size: int = 4096
    large_files: int = 4
    large_mib: int = 64
    ref_files: int = 1_000
    """The small repo that C and D are compared with."""
    big_files: int = 100_000
    e_mib: tuple[int, int] = (1, 1024)
    s3_files: tuple[int, int] = (1_000, 10_000)
    datums: int = 10_000
    io_rows: int = 1_000_000
    io_runs: int = 10
    repeat: int = 3


SIZES = {
    "full": Sizes(),
    "quick": Sizes(
        files=2_000,
        large_mib=16,
        ref_files=200,
        big_files=10_000,
        e_mib=(1, 64),
        s3_files=(100, 1_000),
        datums=1_000,
        io_rows=100_000,
        io_runs=3,
        repeat=1,
    ),
    "tiny": Sizes(
        files=200,
        large_files=2,
        large_mib=2,
        ref_files=50,
        big_files=400,
        e_mib=(1, 4),
        s3_files=(20, 60),
        datums=30,
        io_rows=1_000,
        io_runs=2,
        repeat=1,
    ),
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- data


def file_names(count: int, nested: bool) -> list[str]:
    """Relative paths: 100 files a directory when nested (so a large repo is a small one,
    scaled), all in one directory when flat."""
    return [f"d{i // 100:04d}/f{i:06d}.bin" if nested else f"f{i:06d}.bin" for i in range(count)]


def make_tree(root: Path, names: list[str], size: int) -> None:
    for rel in names:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size))


def spread(names: list[str], k: int) -> list[str]:
    """``k`` names spread evenly over the tree."""
    return names[:: max(len(names) // k, 1)][:k]


def change(data: Path, names: list[str], size: int) -> None:
    """New random content, by replacing each file (its hard-linked copies keep the old one)."""
    for rel in names:
        tmp = data / f"{rel}.new"
        tmp.write_bytes(os.urandom(size))
        os.replace(tmp, data / rel)


def new_work(base: Path, src: Path) -> Path:
    """A fresh directory with ``data/`` a hard-linked copy of ``src``."""
    work = Path(tempfile.mkdtemp(dir=base))
    subprocess.run(["cp", "-al", str(src), str(work / "data")], check=True)
    return work


def sync() -> None:
    subprocess.run(["sync"], check=True)


def median(values: list[float]) -> float:
    return statistics.median(values)


# ---------------------------------------------------------------- the run


@dataclass
class Bench:
    base: Path
    sizes: Sizes
    tools: dict[str, Tool]
    report: Report = field(default_factory=Report)
    a_works: dict[str, Path] = field(default_factory=dict)
    flat_peers: tuple[str, ...] = ("ours", "git", "DVC", "Oxen")

    def each(
        self,
        names: tuple[str, ...],
        fn: Callable[[Tool], float | None],
        into: dict[str, object] | None = None,
    ) -> dict[str, object]:
        """Run ``fn`` for every tool named, recording why a tool could not run; ``into`` (a
        row's values, already in the report) is filled as each tool finishes."""
        out: dict[str, object] = {} if into is None else into
        for name in names:
            tool = self.tools.get(name)
            if tool is None:
                continue
            if tool.missing:
                out[name] = tool.missing
                continue
            log(f"  {name}")
            try:
                out[name] = fn(tool)
            except Exception as e:  # a peer failing is a result to report, not a crash
                out[name] = f"failed: {str(e).splitlines()[0][:120]}"
                log(f"  {name} failed: {e}")
            if into is not None:
                self.progress()
        return out

    def progress(self) -> None:
        """Called as results come in (``main`` writes the partial section)."""

    def repeat(self, fn: Callable[[int], float]) -> float:
        return median([fn(r) for r in range(self.sizes.repeat)])

    # -- A, B ------------------------------------------------------------------------------

    def interleaved(self, once: Callable[[Tool, int], float]) -> dict[str, object]:
        """Repetition r of every tool, then r + 1: a burst of load from other jobs on the
        machine hits every tool alike instead of whichever ran during it."""
        runs: dict[str, list[float]] = {}
        out: dict[str, object] = {}
        for name in TOOLS:
            tool = self.tools.get(name)
            if tool is not None and tool.missing:
                out[name] = tool.missing
        for r in range(self.sizes.repeat):
            for name in TOOLS:
                tool = self.tools.get(name)
                if tool is None or name in out:
                    continue
                log(f"  {name} ({r + 1}/{self.sizes.repeat})")
                try:
                    runs.setdefault(name, []).append(once(tool, r))
                except Exception as e:  # a peer failing is a result to report, not a crash
                    out[name] = f"failed: {str(e).splitlines()[0][:120]}"
                    log(f"  {name} failed: {e}")
        for name, times in runs.items():
            out.setdefault(name, median(times))
        return {name: out[name] for name in TOOLS if name in out}

    def case_a(self) -> None:
        s = self.sizes
        log(f"A: init + add + commit {s.files:,} x {s.file_size} B files")
        src = self.base / "src-a"
        make_tree(src, file_names(s.files, nested=True), s.file_size)
        sync()  # the generated files reach the disk before anything is timed

        def once(tool: Tool, r: int) -> float:
            work = new_work(self.base, src)
            sync()
            elapsed = tool.init_commit(work)
            if tool.name in self.a_works:
                shutil.rmtree(self.a_works[tool.name], ignore_errors=True)
            self.a_works[tool.name] = work  # C continues in the last one
            return elapsed

        times = self.interleaved(once)
        label = f"init + add + commit {s.files:,} files x {s.file_size // 1024} KiB, 100 dirs"
        self.report.rows.append(Row("A", "A", label, times))

    def case_b(self) -> None:
        s = self.sizes
        log(f"B: add + commit {s.large_files} x {s.large_mib} MiB, read back")
        src = self.base / "src-b"
        src.mkdir()
        for i in range(s.large_files):
            with (src / f"large{i}.bin").open("wb") as f:
                for _ in range(s.large_mib):
                    f.write(os.urandom(MiB))
        ours_work: list[Path] = []

        def once(tool: Tool, r: int) -> float:
            work = new_work(self.base, src)
            tool.init(work)
            sync()
            elapsed = tool.commit(work, None)
            if tool.name == "ours":
                ours_work.append(work)
            else:
                shutil.rmtree(work, ignore_errors=True)
            return elapsed

        label = f"add + commit {s.large_files} files x {s.large_mib} MiB"
        self.report.rows.append(Row("B.put", "B", label, self.interleaved(once)))
        reads: dict[str, object] = {}
        if ours_work:
            pairs = [
                (read_back(ours_work[-1], r), cp_back(ours_work[-1], r)) for r in range(s.repeat)
            ]
            reads["ours"] = median([ours for ours, _ in pairs])
            reads["cp"] = median([cp for _, cp in pairs])
        for name in TOOLS:
            if name not in reads and name in self.tools:
                reads[name] = "not measured"
        self.report.rows.append(Row("B.read", "B", "read back the same files", reads))

    # -- C, D ------------------------------------------------------------------------------

    def commit_rounds(self, tool: Tool, work: Path, names: list[str], k: int) -> float:
        picked = spread(names, k)

        def once(r: int) -> float:
            change(work / "data", picked, self.sizes.file_size)
            sync()  # no tool pays for the writeback of what came before it (A's 10,000 files)
            return tool.commit(work, picked)

        return self.repeat(once)

    def seeded(self, tool: Tool, src: Path) -> Path:
        work = new_work(self.base, src)
        tool.init_commit(work)
        return work

    def case_c(self) -> None:
        s = self.sizes
        names = file_names(s.files, nested=True)
        ref_names = file_names(s.ref_files, nested=True)
        log(f"C: commit 100 changed files, {s.files:,}-file repo and {s.ref_files:,}-file repo")
        if not self.a_works:
            self.case_a()
        ref_src = self.base / "src-ref-nested"
        make_tree(ref_src, ref_names, s.file_size)
        peers = tuple(t for t in TOOLS if t != "cp")
        big = self.each(peers, lambda t: self.commit_rounds(t, self.a_works[t.name], names, 100))
        ref_works: dict[str, Path] = {}

        def ref(tool: Tool) -> float:
            ref_works[tool.name] = self.seeded(tool, ref_src)
            return self.commit_rounds(tool, ref_works[tool.name], ref_names, 100)

        small = self.each(peers, ref)
        self.report.rows.append(
            Row("C.big", "C", f"commit 100 changed, {s.files:,}-file repo", big)
        )
        self.report.rows.append(Row("C.ref", "C", f"same, {s.ref_files:,}-file repo", small))
        self.report.curve[s.ref_files] = small
        self.report.curve[s.files] = big
        ones = self.each(peers, lambda t: self.commit_rounds(t, ref_works[t.name], ref_names, 1))
        label = f"commit 1 changed, {s.ref_files:,}-file repo (nested)"
        self.report.rows.append(Row("D.ref.nested", "D", label, ones))
        for work in (*ref_works.values(), *self.a_works.values()):
            shutil.rmtree(work, ignore_errors=True)
        self.a_works.clear()

    def case_d(self, nested: bool) -> None:
        """Per tool: seed the large repo, 1-file commits (and, nested, 100-file commits for the
        plot), then delete it; rows fill in as each tool finishes."""
        s = self.sizes
        layout = "nested" if nested else "flat"
        log(f"D: commit 1 changed file, {s.big_files:,}-file repo ({layout})")
        peers = tuple(t for t in TOOLS if t != "cp" and (nested or t in self.flat_peers))
        skipped = [t for t in TOOLS if t not in peers and t != "cp" and t in self.tools]
        if not nested:
            ref_names = file_names(s.ref_files, nested=False)
            ref_src = self.base / "src-ref-flat"
            make_tree(ref_src, ref_names, s.file_size)

            def ref(tool: Tool) -> float:
                work = self.seeded(tool, ref_src)
                try:
                    return self.commit_rounds(tool, work, ref_names, 1)
                finally:
                    shutil.rmtree(work, ignore_errors=True)

            label = f"commit 1 changed, {s.ref_files:,}-file repo (flat)"
            ref_row = Row("D.ref.flat", "D", label, dict.fromkeys(skipped, "not run"))
            self.report.rows.append(ref_row)
            self.each(peers, ref, into=ref_row.values)
        names = file_names(s.big_files, nested)
        src = self.base / f"src-big-{layout}"
        make_tree(src, names, s.file_size)
        label = f"commit 1 changed, {s.big_files:,}-file repo ({layout})"
        big_row = Row(f"D.big.{layout}", "D", label, dict.fromkeys(skipped, "not run"))
        self.report.rows.append(big_row)
        hundred: Row | None = None
        if nested:
            label = f"commit 100 changed, {s.big_files:,}-file repo"
            hundred = Row("D.100.nested", "D", label, {})
            self.report.rows.append(hundred)
            self.report.curve[s.big_files] = hundred.values

        def one(tool: Tool) -> float:
            work = self.seeded(tool, src)
            try:
                seconds = self.commit_rounds(tool, work, names, 1)
                if hundred is not None:
                    hundred.values[tool.name] = self.commit_rounds(tool, work, names, 100)
                return seconds
            finally:
                shutil.rmtree(work, ignore_errors=True)

        self.each(peers, one, into=big_row.values)
        shutil.rmtree(src, ignore_errors=True)

    # -- E ---------------------------------------------------------------------------------

    def case_e(self) -> None:
        from benchmarks.cases_more import by_reference

        by_reference(self)

    def case_f(self) -> None:
        from benchmarks.cases_more import on_s3

        on_s3(self)

    def case_g(self) -> None:
        from benchmarks.cases_more import pipelines

        pipelines(self)

    def case_h(self) -> None:
        from benchmarks.cases_more import io_managers

        io_managers(self)


def read_back(work: Path, r: int) -> float:
    """Every file of the store's head written out to local files (``Store.get_file_to``)."""
    out = work / f"out-{r}"
    out.mkdir()
    sync()
    start = time.perf_counter()
    store = Store.open(str(work / "store"))
    for info in store.walk_file("data@master:/"):
        if info.type == "file":
            store.get_file_to(f"data@master:{info.path}", out / info.path.lstrip("/"))
    return time.perf_counter() - start


def cp_back(work: Path, r: int) -> float:
    sync()
    start = time.perf_counter()
    subprocess.run(["cp", "-r", str(work / "data"), str(work / f"cp-out-{r}")], check=True)
    return time.perf_counter() - start


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> Report:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller data, one repetition")
    parser.add_argument("--size", choices=sorted(SIZES), help=argparse.SUPPRESS)
    parser.add_argument("--cases", default="A,B,C,D,E,F,G,H", help="comma-separated, e.g. A,C")
    parser.add_argument("--peers", default="git,dvc,oxen,cp", help="peers to run besides ours")
    parser.add_argument("--repeat", type=int, help="repetitions (median of); default 3")
    parser.add_argument(
        "--flat-peers",
        default="git,dvc,oxen",
        help="peers run on the flat large repo of case D (setting one up takes minutes)",
    )
    parser.add_argument("--out", type=Path, help="write the section into this markdown file")
    parser.add_argument(
        "--plot",
        type=Path,
        help="PNG of commit time against repo size (default with --out: images/ beside it)",
    )
    args = parser.parse_args(argv)
    sizes = SIZES[args.size or ("quick" if args.quick else "full")]
    if args.repeat:
        sizes = replace(sizes, repeat=args.repeat)
    cases = [c.strip().upper() for c in args.cases.split(",") if c.strip()]
    wanted = {p.strip().lower() for p in args.peers.split(",")}
    with tempfile.TemporaryDirectory(prefix="dv-bench-", dir=os.environ.get("BENCH_DIR")) as tmp:
        base = Path(tmp)
        env = tool_env(base / "home")
        tools: dict[str, Tool] = {"ours": Ours(env)}
        if "cp" in wanted:
            tools["cp"] = Cp(env)
        for peer in PEERS:
            if peer.name.lower() in wanted:
                tools[peer.name] = peer(env)
        flat = {p.strip().lower() for p in args.flat_peers.split(",")}
        bench = Bench(base, sizes, tools)
        bench.flat_peers = ("ours", *(n for n in tools if n.lower() in flat))
        bench.report.start(base, args.size or ("quick" if args.quick else "full"), tools)
        steps: dict[str, Callable[[], None]] = {
            "A": bench.case_a,
            "B": bench.case_b,
            "C": bench.case_c,
            "D": lambda: (bench.case_d(nested=True), bench.case_d(nested=False)),
            "E": bench.case_e,
            "F": bench.case_f,
            "G": bench.case_g,
            "H": bench.case_h,
        }
        unknown = [c for c in cases if c not in steps]
        if unknown:
            parser.error(f"unknown case {unknown[0]!r}: choose from {', '.join(steps)}")

        def emit(done: bool) -> str:
            return write_out(bench.report, sizes, args.out, args.plot, done=done)

        def progress() -> None:
            emit(done=False)

        bench.progress = progress  # type: ignore[method-assign]
        for case in cases:
            steps[case]()
            emit(done=False)
        bench.report.finish()
    print(emit(done=True))
    return bench.report


def write_out(
    report: Report, sizes: Sizes, out: Path | None, plot_path: Path | None, *, done: bool
) -> str:
    """Render the report (so far) into ``out`` and the plot; returns the markdown."""
    report.goals = Goal.evaluate(report, sizes)
    if plot_path is None and out is not None and report.curve:
        plot_path = out.parent / "images" / "commit_vs_repo_size.png"
    text = render(report)
    if not done:
        text = f"*Partial: the run was still going at {time.strftime('%H:%M:%S')}.*\n\n{text}"
    if plot_path is not None and report.curve:
        from benchmarks.results import plot

        plot(report, plot_path)
        if out is not None:
            link = os.path.relpath(plot_path, out.parent)
            text += f"\n![Commit time against repo size, ours and the peers]({link})\n"
    if out is not None:
        write_section(out, SECTION, text)
    return text


def machine_disk(path: Path) -> str:
    out = subprocess.run(
        ["df", "-T", "-h", str(path)], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    if len(out) < 2:
        return "unknown disk"
    dev, fstype, size = out[1].split()[:3]
    return f"{fstype} on {dev} ({size})"


def machine_summary(path: Path) -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores ({platform.processor() or platform.machine()}), "
        f"{mem:.0f} GiB RAM, "
        f"disk {machine_disk(path)}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


if __name__ == "__main__":
    main()
