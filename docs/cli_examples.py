"""Regenerate the examples in ``docs/cli.md`` from real ``dvctl`` runs.

Every fenced example in ``cli.md`` sits between ``<!-- run: NAME -->`` and ``<!-- /run -->``.
This script runs each example's commands, in the order they appear in the page, in one
scratch directory (so state builds up like a real session: a store, pipelines materialised by
Dagster, a grid job), and writes the commands and their real output back between the markers.
Commit ids and times therefore change on every run.

A command ending in ``  # fails`` must exit non-zero; one ending in ``  # quiet`` runs but its
output (Dagster's log) is left out of the page; ``NAME=$(…)`` sets ``$NAME`` for the commands
after it, as in an interactive shell.

Usage: ``.venv/bin/python docs/cli_examples.py`` (rewrites docs/cli.md), or ``--check`` to run
every example and compare its output with the page's, after ``normalized`` has replaced what
differs from run to run (ids, times, durations, the scratch directory) and ignoring the order
of lines within one command's output (datum ids, hence their order, depend on a random salt).
``--timings`` prints how long each command took.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

DOC = Path(__file__).with_name("cli.md")
BLOCK = re.compile(r"(<!-- run: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /run -->)", re.S)

PIPELINES_PY = """\
from dagster_versioned import Datum, pfs, pipeline, versioned_definitions


@pipeline(input=pfs("texts", glob="/*"))
def words(datum: Datum) -> None:
    \"\"\"Counts the words of every text.\"\"\"
    for src in datum.files("texts"):
        count = len(src.read_text().split())
        (datum.out / f"{src.name}.count").write_text(f"{count}\\n")


defs = versioned_definitions([words])
"""

GRID_JOBS_PY = """\
from pathlib import Path

from dagster_versioned import GridPipeline, GridStep, get_step_param, grid_job


def fit() -> float:
    return get_step_param("lr") * get_step_param("depth")


pipeline = GridPipeline(
    name="train", steps=[GridStep(name="fit", fn=fit, parameters={"lr": 0.1, "depth": 3})]
)
nightly = grid_job("nightly", pipeline, schedule="0 3 * * *", snapshot=Path(__file__).parent)
"""

# The commands of each example, by name (flags: see the module docstring).
EXAMPLES: dict[str, list[str]] = {
    "config-new": ["dvctl config", "dvctl list repo  # fails"],
    "repos": [
        "dvctl create repo images --description 'raw pictures'",
        "dvctl create repo data",
        "dvctl list repo",
        "dvctl inspect repo images",
    ],
    "repo-raw": ["dvctl inspect repo images --raw"],
    "delete-repo": ["dvctl delete repo images", "dvctl list repo"],
    "create-branch": [
        "dvctl create branch data@master",
        "dvctl list commit data",
    ],
    "put-staging": [
        "echo 'first file' > file1",
        "dvctl put file data@staging -f file1",
        "dvctl list branch data",
    ],
    "head-move": [
        "dvctl create branch data@master --head staging",
        "dvctl list branch data",
    ],
    "ancestry": [
        'for i in 2 3 4; do echo "file $i" | dvctl put file data@staging:/file$i; done',
        "dvctl list commit data@staging",
        "dvctl create branch data@master --head staging^2",
        "dvctl inspect branch data@master",
    ],
    "branch-raw": ["dvctl list branch data --raw"],
    "trigger": [
        "dvctl create branch data@master --trigger staging --trigger-size 1MB",
        "dvctl list branch data",
        "head -c 1048576 /dev/urandom | dvctl put file data@staging:/file",
        "dvctl list branch data",
    ],
    "trigger-errors": [
        "dvctl create branch data@prod --trigger-size 1MB  # fails",
        "dvctl create branch data@prod --trigger staging --trigger-commits -1  # fails",
    ],
    "delete-branch": [
        "dvctl create branch data@scratch",
        "dvctl delete branch data@scratch",
        "dvctl list branch data",
    ],
    "commit": [
        "dvctl start commit data@master --message 'copy two files'",
        "dvctl copy file data@staging:file1 data@master:file1",
        "dvctl copy file data@staging:/file2 data@master:/file2",
        "dvctl delete file data@master:/file",
        "echo new | dvctl put file data@master:/new-file",
        "dvctl list commit data@master -n 2",
        "dvctl finish commit data@master",
        "dvctl list commit data@master -n 2",
    ],
    "inspect-commit": ["dvctl inspect commit data@master", "dvctl wait commit data@master^1"],
    "commit-raw": ["dvctl inspect commit data@master --raw"],
    "delete-commit": [
        "dvctl start commit data@master",
        "echo oops | dvctl put file data@master:/oops",
        "dvctl delete commit data@master",
        "dvctl list file data@master",
    ],
    "commit-sets": [
        "dvctl list commit -n 3",
        "dvctl list commit $(dvctl list commit data@master --raw -n 1 "
        '| python3 -c \'import json,sys; print(json.load(sys.stdin)["commit"]["id"])\')',
    ],
    "put-file": [
        "mkdir -p photos/2024 && echo a > photos/a.jpg && echo b > photos/2024/b.jpg",
        "dvctl put file -r data@master -f photos",
        "dvctl put file -r data@master:/flat -f photos",
        "echo 'from a URL' > remote.txt",
        'dvctl put file data@master:/url.txt -f "file://$PWD/remote.txt"',
        "echo more | dvctl put file data@master:/url.txt --append",
        "dvctl list file data@master",
        "dvctl list file data@master:/photos",
    ],
    "get-file": [
        "dvctl get file data@master:/url.txt",
        "dvctl get file data@master:/photos -r -o out",
        "find out -type f | sort",
        "dvctl get file data@master:/photos  # fails",
    ],
    "glob-diff": [
        "dvctl glob file 'data@master:/photos/*'",
        "dvctl glob file 'data@master:/**.jpg'",
        "dvctl diff file data@master",
        "dvctl inspect file data@master:/url.txt",
    ],
    "file-raw": ["dvctl list file data@master:/photos --raw"],
    "pipelines": [
        "dvctl list pipeline",
        "dvctl list job",
        "dvctl inspect pipeline edges  # fails",
        "dvctl list datum edges@0123456789abcdef0123456789abcdef  # fails",
    ],
    "jobs": [
        "dvctl create repo texts",
        "printf 'one two\\n' > a.txt && printf 'three\\n' > b.txt",
        "dvctl put file texts@master:/ -f a.txt -f b.txt",
        f"cat > pipelines.py <<'PY'\n{PIPELINES_PY}PY",
        "dagster asset materialize -f pipelines.py --select words  # quiet",
        "printf 'four five six\\n' | dvctl put file texts@master:/c.txt",
        "dagster asset materialize -f pipelines.py --select words  # quiet",
        "dvctl list job",
        "dvctl list job -p words",
        "dvctl get file words@master:/c.txt.count",
    ],
    "job-details": [
        "JOB=$(dvctl list job -p words --raw | sed -n 1p "
        '| python3 -c \'import json,sys; print(json.load(sys.stdin)["job"]["id"])\')',
        "dvctl list job $JOB",
        "dvctl inspect job words@$JOB",
        "dvctl list datum words@$JOB",
        "dvctl wait job words@$JOB",
        "dvctl stop job words@$JOB  # fails",
    ],
    "job-raw": [
        "dvctl inspect job words@$JOB --raw",
        "dvctl list datum words@$JOB --raw | grep -F '\"/a.txt\"'",
    ],
    "list-pipeline": ["dvctl list pipeline", "dvctl inspect pipeline words"],
    "grid-job": [
        "mkdir -p search",
        f"cat > search/jobs.py <<'PY'\n{GRID_JOBS_PY}PY",
        'echo \'{"fit": {"lr": [0.1, 0.01]}}\' > search/train.parameters.json',
        "dvctl grid expand search/train.parameters.json",
        "cd search && python -c 'import jobs'  # quiet",
        "dvctl list grid-job",
    ],
    "grid-run": [
        "dvctl grid run-now nightly",
        "cd search && python -c 'import dagster as dg, jobs; "
        "jobs.nightly.launch_in_process(dg.DagsterInstance.get())'  # quiet",
        "dvctl inspect grid-job nightly",
    ],
    "grid-controls": [
        'echo \'{"fit": {"lr": [0.1, 0.01], "depth": [3, 5]}}\' > search/train.parameters.json',
        "dvctl grid update nightly",
        "dvctl grid pause nightly",
        "dvctl grid resume nightly",
        "dvctl grid confirm nightly  # fails",
        "dvctl grid cancel nightly",
        "dvctl grid update nightly  # fails",
        "dvctl list grid-job",
    ],
    "admin": ["dvctl fsck", "dvctl gc --dry-run", "dvctl config", "dvctl version"],
    "completion": [
        "dvctl completion bash | head -3",
        "_DVCTL_COMPLETE=bash_complete COMP_WORDS='dvctl list branch d' COMP_CWORD=3 dvctl",
        "_DVCTL_COMPLETE=bash_complete COMP_WORDS='dvctl list commit data@m' COMP_CWORD=3 dvctl",
    ],
    "pachctl-habits": [
        "dvctl create pipeline -f edges.json  # fails",
        "dvctl mount ./pfs  # fails",
        "dvctl port-forward  # fails",
        "dvctl delete repo --all < /dev/null  # fails",
    ],
    "errors": [
        "dvctl list branch nope  # fails",
        "dvctl get file 'data@master:/../etc/passwd'  # fails",
        "dvctl inspect commit data@master^99  # fails",
        "dvctl finish commit data@master  # fails",
        "dvctl put file data@master:/x -f missing.txt  # fails",
        "dvctl create repo 'bad name'  # fails",
    ],
}


TIMINGS = "--timings" in sys.argv  # print each command's wall time to stderr
ASSIGNMENT = re.compile(r"^(?P<name>[A-Z_]+)=(?P<value>\$\(.*\))$", re.S)


def run_example(commands: list[str], cwd: Path, env: dict[str, str]) -> list[Command]:
    """Run one example's commands; ``env`` keeps what ``NAME=$(…)`` commands set."""
    out = []
    for line in commands:
        command, _, flag = line.rpartition("  # ")
        if flag not in ("fails", "quiet"):
            command, flag = line, ""
        script = command
        assignment = ASSIGNMENT.match(command)
        if assignment:
            script = f"printf %s {assignment.group('value')}"
        started = time.monotonic()
        done = subprocess.run(
            ["bash", "-o", "pipefail", "-c", script],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if TIMINGS:
            print(f"{time.monotonic() - started:6.1f}s {command[:70]}", file=sys.stderr)
        if (done.returncode != 0) != (flag == "fails"):
            raise SystemExit(
                f"example command {command!r} exited {done.returncode}:\n{done.stdout}{done.stderr}"
            )
        if assignment:
            env[assignment.group("name")] = done.stdout
            out.append(Command(command, ""))
        elif flag == "quiet":
            out.append(Command(f"{command}  # (its log is left out here)", ""))
        else:
            status = f"(exit status {done.returncode})\n" if flag == "fails" else ""
            out.append(Command(command, done.stdout + done.stderr + status))
    return out


class Command(NamedTuple):
    command: str
    output: str


def render(commands: list[Command]) -> str:
    return "".join(f"$ {c.command}\n{c.output}" for c in commands)


VOLATILE = [
    (
        re.compile(
            r"/tmp/dvctl-docs-[\w]+|" + re.escape(tempfile.gettempdir()) + r"/dvctl-docs-\w+"
        ),
        "<tmp>",
    ),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "<uuid>"),
    (re.compile(r"\b[0-9a-f]{32}\b"), "<id>"),
    (re.compile(r"\b\d{20}-[0-9a-f]{8}\b"), "<request>"),
    (re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?Z?"), "<time>"),
    (re.compile(r"\"\d+(\.\d+)?s\""), '"<seconds>"'),
    (
        re.compile(
            r"Less than a second|About a minute|About an hour|"
            r"\b\d+ (seconds?|minutes?|hours?|days?|weeks?|months?|years?)\b"
        ),
        "<duration>",
    ),
    (re.compile(r"^Python: .*$", re.M), "Python: <version>"),
    (re.compile(r"[ \t]+"), " "),
]


def normalized(output: str) -> list[str]:
    """What must match between a run and the page: volatile parts replaced, lines sorted."""
    for pattern, replacement in VOLATILE:
        output = pattern.sub(replacement, output)
    return sorted(line.rstrip() for line in output.splitlines())


def differences(name: str, page_body: str, ran: list[Command]) -> list[str]:
    """Where the page's example ``name`` no longer shows what its commands print."""
    rest = page_body.removeprefix("```console\n").removesuffix("```\n")
    shown: list[str] = []
    for i, command in enumerate(ran):
        prompt = f"$ {command.command}\n"
        if not rest.startswith(prompt):
            return [
                f"{name}: the page does not show `$ {command.command}` where the example runs it"
            ]
        rest = rest[len(prompt) :]
        following = f"$ {ran[i + 1].command}\n" if i + 1 < len(ran) else None
        at = rest.find(following) if following else len(rest)
        if at < 0:
            return [f"{name}: the page does not show `{following.strip()}`"]
        shown.append(rest[:at])
        rest = rest[at:]
    return [
        f"{name}: `{r.command.splitlines()[0]}` now prints:\n{r.output}"
        for page, r in zip(shown, ran, strict=True)
        if normalized(page) != normalized(r.output)
    ]


def main(argv: list[str]) -> int:
    check = "--check" in argv
    text = DOC.read_text()
    names = [m.group("name") for m in BLOCK.finditer(text)]
    missing = [n for n in names if n not in EXAMPLES] + [n for n in EXAMPLES if n not in names]
    if missing:
        raise SystemExit(f"examples and markers disagree: {missing}")
    bin_dir = Path(sys.executable).parent
    env = {
        k: v for k, v in os.environ.items() if k not in ("DAGSTER_VERSIONED_STORAGE", "NO_COLOR")
    }
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = "100"
    outputs: dict[str, list[Command]] = {}
    with tempfile.TemporaryDirectory(prefix="dvctl-docs-") as tmp:
        home = Path(tmp) / ".dagster_home"  # Dagster's instance: runs, and the pipelines' state
        home.mkdir()
        (home / "dagster.yaml").write_text("")
        env["DAGSTER_HOME"] = str(home)
        for name in names:
            outputs[name] = run_example(EXAMPLES[name], Path(tmp), env)
    if check:
        bodies = {m.group("name"): m.group("body") for m in BLOCK.finditer(text)}
        problems = [p for n in names for p in differences(n, bodies[n], outputs[n])]
        if problems:
            print("\n".join(problems))
            print("docs/cli.md is out of date: run .venv/bin/python docs/cli_examples.py")
            return 1
        print(f"{len(names)} examples ran and printed what docs/cli.md shows")
        return 0

    def replace(m: re.Match[str]) -> str:
        return f"{m.group(1)}```console\n{render(outputs[m.group('name')])}```\n{m.group(4)}"

    DOC.write_text(BLOCK.sub(replace, text))
    print(f"rewrote {len(names)} examples in {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
