"""Regenerate the examples in ``docs/cli.md`` from real ``dvctl`` runs.

Every fenced example in ``cli.md`` sits between ``<!-- run: NAME -->`` and ``<!-- /run -->``.
This script runs each example's commands, in the order they appear in the page, in one
scratch directory (so state builds up like a real session), and writes the commands and their
real output back between the markers. Commit ids and times therefore change on every run.

Usage: ``.venv/bin/python docs/cli_examples.py`` (rewrites docs/cli.md), or ``--check`` to only
verify that every example still runs with the exit status it shows.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

DOC = Path(__file__).with_name("cli.md")
BLOCK = re.compile(r"(<!-- run: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /run -->)", re.S)

# The commands of each example, by name. A command ending in " # fails" must exit non-zero.
EXAMPLES: dict[str, list[str]] = {
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
    "errors": [
        "dvctl list branch nope  # fails",
        "dvctl get file 'data@master:/../etc/passwd'  # fails",
        "dvctl inspect commit data@master^99  # fails",
        "dvctl finish commit data@master  # fails",
        "dvctl put file data@master:/x -f missing.txt  # fails",
        "dvctl create repo 'bad name'  # fails",
    ],
}


def run_example(commands: list[str], cwd: Path, env: dict[str, str]) -> str:
    out = []
    for line in commands:
        command, _, flag = line.partition("  # ")
        expect_failure = flag.strip() == "fails"
        done = subprocess.run(
            ["bash", "-o", "pipefail", "-c", command],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if (done.returncode != 0) != expect_failure:
            raise SystemExit(
                f"example command {command!r} exited {done.returncode}:\n{done.stdout}{done.stderr}"
            )
        out.append(f"$ {command}\n{done.stdout}{done.stderr}")
        if expect_failure:
            out[-1] += f"(exit status {done.returncode})\n"
    return "".join(out)


def main(argv: list[str]) -> int:
    check = "--check" in argv
    text = DOC.read_text()
    names = [m.group("name") for m in BLOCK.finditer(text)]
    missing = [n for n in names if n not in EXAMPLES] + [n for n in EXAMPLES if n not in names]
    if missing:
        raise SystemExit(f"examples and markers disagree: {missing}")
    bin_dir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_VERSIONED_STORAGE"}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = "100"
    outputs: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="dvctl-docs-") as tmp:
        for name in names:
            outputs[name] = run_example(EXAMPLES[name], Path(tmp), env)
    if check:
        print(f"{len(names)} examples ran as documented")
        return 0

    def replace(m: re.Match[str]) -> str:
        return f"{m.group(1)}```console\n{outputs[m.group('name')]}```\n{m.group(4)}"

    DOC.write_text(BLOCK.sub(replace, text))
    print(f"rewrote {len(names)} examples in {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
