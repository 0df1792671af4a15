"""What ``benchmarks.run`` measured, the goals of issue 10 checked against it, and its output:
a markdown section and a PNG of commit time against repo size."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from benchmarks.peers import Tool
    from benchmarks.run import Sizes

PEER_NAMES = ("git", "DVC", "Oxen")
COLUMNS = ("ours", "git", "DVC", "Oxen", "cp")


@dataclass
class Row:
    """One operation timed for every tool: seconds, or why a tool has no figure."""

    key: str
    case: str
    label: str
    values: dict[str, object]

    def seconds(self, tool: str) -> float | None:
        value = self.values.get(tool)
        return float(value) if isinstance(value, int | float) else None

    def best_peer(self) -> tuple[str, float] | None:
        timed = [(n, s) for n in PEER_NAMES if (s := self.seconds(n)) is not None]
        return min(timed, key=lambda item: item[1]) if timed else None


@dataclass
class Pair:
    """Ours against a reference that is not a peer tool (a smaller file, a first run, …)."""

    key: str
    case: str
    label: str
    ours: float
    reference_label: str
    reference: float

    @property
    def ratio(self) -> float:
        return self.ours / self.reference if self.reference else float("inf")


@dataclass
class S3Op:
    """One store operation on the S3 server: the requests it made, by kind, and its time."""

    key: str
    label: str
    requests: Counter[str]
    seconds: float

    @property
    def total(self) -> int:
        return sum(self.requests.values())


@dataclass
class Goal:
    name: str
    target: str
    measured: str
    met: bool | None  # None: not measured in this run

    @staticmethod
    def evaluate(report: Report, sizes: Sizes) -> list[Goal]:
        return [g for g in _goals(report, sizes) if g is not None]


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    pairs: list[Pair] = field(default_factory=list)
    s3: list[S3Op] = field(default_factory=list)
    curve: dict[int, dict[str, object]] = field(default_factory=dict)
    """Repo size → tool → seconds of a 100-file commit (the plot)."""
    goals: list[Goal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    mode: str = ""
    machine: str = ""
    versions: str = ""
    started: str = ""
    load_start: str = ""
    load_end: str = ""
    elapsed: float = 0.0
    _t0: float = 0.0

    def start(self, base: Path, mode: str, tools: dict[str, Tool]) -> None:
        from benchmarks.run import machine_summary

        self.mode = mode
        self.machine = machine_summary(base)
        self.versions = tool_versions(tools)
        self.started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        self.load_start = _load()
        self._t0 = time.perf_counter()

    def finish(self) -> None:
        self.load_end = _load()
        self.elapsed = time.perf_counter() - self._t0

    def row(self, key: str) -> Row | None:
        return next((r for r in self.rows if r.key == key), None)

    def pair(self, key: str) -> Pair | None:
        return next((p for p in self.pairs if p.key == key), None)

    def s3op(self, key: str) -> S3Op | None:
        return next((op for op in self.s3 if op.key == key), None)

    def ours(self, key: str) -> float | None:
        row = self.row(key)
        return row.seconds("ours") if row else None


def _load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def tool_versions(tools: dict[str, Tool]) -> str:
    parts = [f"Python {sys.version.split()[0]}"]
    for name in tools:
        if name == "git" and not tools[name].missing:
            out = subprocess.run(["git", "--version"], capture_output=True, text=True, check=False)
            parts.append(out.stdout.strip().replace("git version", "git"))
        if name == "DVC" and not tools[name].missing:
            # DVC runs from a venv of its own (see peers.Dvc): ask the executable, not this venv.
            exe = getattr(tools[name], "exe", None) or "dvc"
            out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
            parts.append(f"DVC {out.stdout.strip() or 'unknown version'}")
        if name == "Oxen" and not tools[name].missing:
            parts.append(f"Oxen {metadata.version('oxenai')}")
    return ", ".join(parts)


# ---------------------------------------------------------------- goals


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _goals(report: Report, sizes: Sizes) -> list[Goal | None]:
    return [
        _goal_a(report),
        _goal_b(report),
        _goal_scale(report, "C", "C.big", "C.ref", "100 files"),
        _goal_scale(report, "D nested", "D.big.nested", "D.ref.nested", "1 file"),
        _goal_scale(report, "D flat", "D.big.flat", "D.ref.flat", "1 file"),
        _goal_e(report),
        _goal_f(report, sizes),
        _goal_pair(report, "G", "G", 0.05, "rerun ≤ 5% of the first run", percent=True),
        _goal_pair(report, "H", "H.default", 1.2, "≤ 1.2x FilesystemIOManager"),
    ]


def _goal_a(report: Report) -> Goal | None:
    row = report.row("A")
    if row is None:
        return None
    best, ours = row.best_peer(), row.seconds("ours")
    if best is None or ours is None:
        return Goal("A", "≥ 3x faster than the fastest peer", "no peer ran", None)
    speed = best[1] / ours
    return Goal("A", "≥ 3x faster than the fastest peer", f"{speed:.2f}x ({best[0]})", speed >= 3)


def _goal_b(report: Report) -> Goal | None:
    put, read = report.row("B.put"), report.row("B.read")
    if put is None:
        return None
    speeds = [_ratio(r.seconds("cp"), r.seconds("ours")) for r in (put, read) if r is not None]
    if any(s is None for s in speeds):
        return Goal("B", "≥ 0.8x cp throughput", "cp not run", None)
    text = " / ".join(f"{s:.2f}x" for s in speeds if s is not None)
    met = all(s is not None and s >= 0.8 for s in speeds)
    return Goal("B", "≥ 0.8x cp throughput (add + commit / read back)", text, met)


def _goal_scale(report: Report, name: str, big: str, small: str, what: str) -> Goal | None:
    ratio = _ratio(report.ours(big), report.ours(small))
    if ratio is None:
        return None
    return Goal(name, f"≤ 3x the same change ({what}) in a small repo", f"{ratio:.2f}x", ratio <= 3)


def _goal_e(report: Report) -> Goal | None:
    pairs = [p for p in report.pairs if p.key.startswith("E.") and p.key != "E.cp"]
    if not pairs:
        return None
    worst = max(pairs, key=lambda p: p.ratio)
    return Goal(
        "E",
        "constant in file size (≤ 1.5x from the small to the large file)",
        f"worst {worst.ratio:.2f}x ({worst.label})",
        worst.ratio <= 1.5,
    )


def _goal_f(report: Report, sizes: Sizes) -> Goal | None:
    small, big = (report.s3op(f"F.put1.{n}") for n in sizes.s3_files)
    hundred = report.s3op(f"F.put100.{sizes.s3_files[1]}")
    if small is None or big is None:
        return None
    growth = big.total - small.total
    text = (
        f"1-file commit: {small.total} requests ({sizes.s3_files[0]:,} files), "
        f"{big.total} ({sizes.s3_files[1]:,} files)"
    )
    if hundred is not None:
        text += f"; 100-file commit: {hundred.total}"
    # O(changed files + tree depth): ten times the files may add a level or two, never O(files).
    return Goal(
        "F", "S3 requests per small commit O(changed files + tree depth)", text, growth <= 4
    )


def _goal_pair(
    report: Report, name: str, key: str, limit: float, target: str, *, percent: bool = False
) -> Goal | None:
    pair = report.pair(key)
    if pair is None:
        return None
    measured = f"{pair.ratio:.1%}" if percent else f"{pair.ratio:.2f}x"
    return Goal(name, target, measured, pair.ratio <= limit)


# ---------------------------------------------------------------- markdown


def _fmt(value: object) -> str:
    if isinstance(value, int | float):
        return f"{value:.3f}" if value < 10 else f"{value:.1f}"
    return "—" if value is None else str(value)


def render(report: Report) -> str:
    out = [
        f"Measured {report.started} in one run of `python -m benchmarks.run` "
        f"({report.mode} sizes, median of the repetitions; {report.elapsed / 60:.0f} min). "
        f"Machine: {report.machine}. Load average (1/5/15 min) at start {report.load_start}, "
        f"at end {report.load_end or _load()}. Tools: {report.versions}.",
        "",
    ]
    if report.rows:
        out += [
            "Seconds (lower is better); *best peer ÷ ours* and *cp ÷ ours* above 1 mean we are "
            "faster.",
            "",
            "| case | operation | ours | git | DVC | Oxen | cp | best peer ÷ ours | cp ÷ ours |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for row in report.rows:
            ours = row.seconds("ours")
            best = row.best_peer()
            vs_peer = f"{best[1] / ours:.2f}x ({best[0]})" if best and ours else "—"
            cp = _ratio(row.seconds("cp"), ours)
            cells = [_fmt(row.values.get(t)) for t in COLUMNS]
            vs_cp = f"{cp:.2f}x" if cp else "—"
            out.append(f"| {row.case} | {row.label} | {' | '.join(cells)} | {vs_peer} | {vs_cp} |")
        out.append("")
    if report.pairs:
        out += [
            "| case | operation | ours (s) | compared with | (s) | ratio |",
            "|---|---|---:|---|---:|---:|",
        ]
        for p in report.pairs:
            out.append(
                f"| {p.case} | {p.label} | {_fmt(p.ours)} | {p.reference_label} | "
                f"{_fmt(p.reference)} | {p.ratio:.2f} |"
            )
        out.append("")
    if report.s3:
        kinds = ("GET", "HEAD", "PUT", "LIST", "DELETE", "POST")
        out += [
            "Case F, our store on moto's S3 server (127.0.0.1): HTTP requests counted from the "
            "server's request log, each operation from a freshly opened `Store` (cold caches, "
            "like a new process).",
            "",
            f"| operation | requests | {' | '.join(kinds)} | seconds |",
            f"|---|---:|{'---:|' * len(kinds)}---:|",
        ]
        for op in report.s3:
            counts = " | ".join(str(op.requests.get(k, 0)) for k in kinds)
            out.append(f"| {op.label} | {op.total} | {counts} | {_fmt(op.seconds)} |")
        out.append("")
    if report.goals:
        out += ["| goal | target | measured | met |", "|---|---|---|---|"]
        for g in report.goals:
            met = "—" if g.met is None else ("yes" if g.met else "**no**")
            out.append(f"| {g.name} | {g.target} | {g.measured} | {met} |")
        out.append("")
    out += [f"{note}\n" for note in report.notes]
    return "\n".join(out).rstrip("\n") + "\n"


def plot(report: Report, path: Path) -> None:
    """Commit time of a 100-file change against the number of files in the repo."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(report.curve)
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for tool in ("ours", *PEER_NAMES):
        points = [
            (n, float(v)) for n in sizes if isinstance(v := report.curve[n].get(tool), int | float)
        ]
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, marker="o", label=tool)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("files in the repo (100 per directory)")
    ax.set_ylabel("seconds to commit 100 changed files")
    ax.set_title(f"Commit time against repo size ({report.started})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
