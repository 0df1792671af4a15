"""The benchmark harness runs end to end on tiny data, and its S3 request counts are real.

``python -m benchmarks.run`` is run on demand, not in CI; these tests keep it from rotting:
ours, cp and git only (DVC and Oxen come with the ``bench`` extra, which CI does not install).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from dagster_versioned.testing.s3server import MotoServer, count_by_kind

ROOT = Path(__file__).resolve().parents[2]


def _row(table: str, operation: str) -> list[str]:
    line = next(line for line in table.splitlines() if f"| {operation}" in line)
    return [cell.strip() for cell in line.strip("|").split("|")]


@pytest.mark.s3
@pytest.mark.slow
def test_quick_run_on_tiny_data_writes_the_table_with_real_request_counts(tmp_path: Path):
    out = tmp_path / "performance.md"
    out.write_text("# Performance\n\n## Kept\n\nuntouched\n")

    args = ["--size", "tiny", "--peers", "cp,git", "--cases", "A,C,F", "--out", str(out)]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    text = out.read_text()
    assert "## Kept\n\nuntouched" in text
    assert "## Side by side" in text
    ours, git, dvc, oxen, cp = _row(text, "A | init + add + commit")[2:7]
    assert float(ours) > 0
    assert float(git) > 0
    assert float(cp) > 0
    assert dvc == oxen == "—"  # not asked for
    assert float(_row(text, "C | commit 100 changed")[2]) > 0
    # A one-file commit writes at least the file's object, a tree node per level, the commit
    # record and the ref-log entry: four PUTs or more, each counted by the server.
    put1 = _row(text, "one-shot `put_file` of 1 file, 20-file repo")
    total, puts = int(put1[1]), int(put1[4])
    assert puts >= 4
    assert total >= puts
    assert re.search(r"\| F \| S3 requests per small commit", text)


@pytest.mark.s3
def test_moto_server_counts_each_request_it_serves(tmp_path: Path):
    with MotoServer(tmp_path / "moto.log") as server:
        client = server.client()
        client.create_bucket(Bucket="counted")
        mark = server.mark()
        for i in range(3):
            client.put_object(Bucket="counted", Key=f"k/{i}", Body=b"x")
        client.get_object(Bucket="counted", Key="k/0")
        client.head_object(Bucket="counted", Key="k/1")
        client.list_objects_v2(Bucket="counted", Prefix="k/")

        counts = count_by_kind(server.requests_since(mark))

    assert counts == {"PUT": 3, "GET": 1, "HEAD": 1, "LIST": 1}
