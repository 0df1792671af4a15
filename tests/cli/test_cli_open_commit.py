"""Open commits in dvctl behave as in pachctl: after ``start commit`` the open commit is the head.

``list branch`` and ``inspect branch`` name it as the head, ``inspect commit repo@branch`` shows
it with no finished time, ``wait commit repo@branch`` blocks until it is finished, and
``list commit`` lists it first with ``-`` for FINISHED and SIZE. File reads keep reading the
last finished commit. ``--raw`` stays protojson of Pachyderm's records (DESIGN.md, section 6).
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from dagster_versioned.store import Store

from .helpers import Dv, header, parse_table


def _start(dv: Dv, ref: str) -> str:
    return dv.ok("start", "commit", ref).strip()


def _later(action: Callable[[], object], delay: float = 0.3) -> threading.Thread:
    """Run ``action`` on another thread after ``delay`` seconds, as a second user would."""

    def run() -> None:
        time.sleep(delay)
        action()

    worker = threading.Thread(target=run)
    worker.start()
    return worker


def _with_open_commit(dv: Dv) -> tuple[str, str]:
    """Repo ``w`` with one finished commit on master and one open on it: (finished, open)."""
    dv.ok("create", "repo", "w")
    dv.ok("put", "file", "w@master:/f", input=b"finished")
    finished = dv.store.inspect_commit("w@master").id
    return finished, _start(dv, "w@master")


# -- branches --------------------------------------------------------------------------------


def test_list_branch_shows_the_open_commit_as_the_head(dv: Dv) -> None:
    _, opened = _with_open_commit(dv)

    (row,) = parse_table(dv.ok("list", "branch", "w"))
    assert (row["BRANCH"], row["HEAD"], row["TRIGGER"]) == ("master", opened, "-")
    (record,) = [json.loads(line) for line in dv.ok("list", "branch", "w", "--raw").splitlines()]
    assert record == {
        "branch": {"repo": {"name": "w", "type": "user"}, "name": "master"},
        "head": {"branch": {"repo": {"name": "w", "type": "user"}, "name": "master"}, "id": opened},
    }


def test_inspect_branch_shows_the_open_commit_as_the_head_commit(dv: Dv) -> None:
    _, opened = _with_open_commit(dv)

    assert dv.ok("inspect", "branch", "w@master") == f"Name: w@master\nHead Commit: w@{opened}\n"
    record = json.loads(dv.ok("inspect", "branch", "w@master", "--raw"))
    assert record["head"]["id"] == opened


# -- inspect commit --------------------------------------------------------------------------


def test_inspect_commit_on_a_branch_shows_its_open_commit_with_no_finished_time(dv: Dv) -> None:
    finished, opened = _with_open_commit(dv)

    assert dv.ok("inspect", "commit", "w@master") == (
        f"Commit: w@{opened}\nOriginal Branch: master\nParent: {finished}\n"
        "Started: Less than a second ago\n"
    )
    record = json.loads(dv.ok("inspect", "commit", "w@master", "--raw"))
    assert list(record) == ["commit", "origin", "parent_commit", "started"]  # no finished, details
    assert record["commit"]["id"] == opened
    assert record["parent_commit"]["id"] == finished


def test_inspect_commit_ancestry_counts_from_the_open_commit(dv: Dv) -> None:
    finished, _ = _with_open_commit(dv)

    record = json.loads(dv.ok("inspect", "commit", "w@master^1", "--raw"))
    assert record["commit"]["id"] == finished
    assert record["details"] == {"size_bytes": "8"}


# -- wait commit -----------------------------------------------------------------------------


def test_wait_commit_on_a_branch_blocks_until_its_open_commit_is_finished(dv: Dv) -> None:
    _, opened = _with_open_commit(dv)

    def finish() -> None:
        store = dv.store
        store.put_file("w@master:/f", b"v2")
        store.finish_commit("w@master")

    worker = _later(finish)
    started = time.monotonic()
    record = json.loads(dv.ok("wait", "commit", "w@master", "--raw"))
    worker.join()

    assert time.monotonic() - started >= 0.25
    assert record["commit"]["id"] == opened
    assert "finished" in record
    assert record["details"] == {"size_bytes": "2"}


def test_wait_commit_on_an_open_branch_head_times_out_with_one_error_line(dv: Dv) -> None:
    _, opened = _with_open_commit(dv)

    message = dv.error("wait", "commit", "w@master", "--timeout", "0.2")
    assert f"w@{opened}" in message
    assert "did not finish within 0.2 seconds" in message


def test_wait_commit_on_an_open_commit_deleted_meanwhile_fails_with_one_error_line(
    dv: Dv,
) -> None:
    _, opened = _with_open_commit(dv)

    worker = _later(lambda: dv.store.delete_commit("w@master"))
    message = dv.error("wait", "commit", "w@master")
    worker.join()
    assert message == f"commit 'w@{opened}' not found: it was deleted before it finished"


def test_wait_commit_blocks_in_the_installed_dvctl_until_another_process_finishes(
    dvctl_path: str, tmp_path: Path
) -> None:
    env = {**os.environ, "DAGSTER_VERSIONED_STORAGE": str(tmp_path / "store"), "NO_COLOR": "1"}

    def dvctl(*args: str) -> str:
        done = subprocess.run([dvctl_path, *args], env=env, capture_output=True, check=True)
        return done.stdout.decode()

    dvctl("create", "repo", "w")
    opened = dvctl("start", "commit", "w@master").strip()
    waiter = subprocess.Popen(
        [dvctl_path, "wait", "commit", "w@master", "--raw"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        time.sleep(1.0)
        assert waiter.poll() is None, "wait commit returned before the commit was finished"
        dvctl("finish", "commit", "w@master")
        out, err = waiter.communicate(timeout=30)
    finally:
        waiter.kill()
    assert waiter.returncode == 0, err
    record = json.loads(out)
    assert record["commit"]["id"] == opened
    assert "finished" in record


# -- list commit -----------------------------------------------------------------------------


def test_list_commit_lists_the_open_commit_first_marked_open(dv: Dv) -> None:
    finished, opened = _with_open_commit(dv)

    out = dv.ok("list", "commit", "w@master")
    assert header(out) == ["REPO", "BRANCH", "COMMIT", "FINISHED", "SIZE", "ORIGIN", "DESCRIPTION"]
    top, below = parse_table(out)
    assert (top["COMMIT"], top["FINISHED"], top["SIZE"]) == (opened, "-", "-")
    assert (below["COMMIT"], below["SIZE"]) == (finished, "8B")
    first, second = [json.loads(x) for x in dv.ok("list", "commit", "w@master", "--raw").split()]
    assert list(first) == ["commit", "origin", "parent_commit", "started"]
    assert first["parent_commit"]["id"] == second["commit"]["id"] == finished


def test_list_commit_ancestry_counts_from_the_open_commit(dv: Dv) -> None:
    finished, _ = _with_open_commit(dv)

    assert [r["COMMIT"] for r in parse_table(dv.ok("list", "commit", "w@master^1"))] == [finished]


def test_list_commit_of_an_open_commit_by_id_lists_it(dv: Dv) -> None:
    finished, opened = _with_open_commit(dv)

    rows = parse_table(dv.ok("list", "commit", f"w@{opened}"))
    assert [r["COMMIT"] for r in rows] == [opened, finished]


# -- a brand-new branch ----------------------------------------------------------------------


def test_start_commit_on_a_new_branch_then_list_inspect_and_wait_work(dv: Dv) -> None:
    dv.ok("create", "repo", "w")
    opened = _start(dv, "w@new")

    assert [(r["BRANCH"], r["HEAD"]) for r in parse_table(dv.ok("list", "branch", "w"))] == [
        ("new", opened)
    ]
    assert dv.ok("inspect", "branch", "w@new") == f"Name: w@new\nHead Commit: w@{opened}\n"
    assert dv.ok("inspect", "commit", "w@new").startswith(f"Commit: w@{opened}\n")
    assert [r["COMMIT"] for r in parse_table(dv.ok("list", "commit", "w@new"))] == [opened]

    worker = _later(lambda: dv.store.finish_commit("w@new"))
    waited = json.loads(dv.ok("wait", "commit", "w@new", "--raw"))
    worker.join()
    assert waited["commit"] == {
        "branch": {"repo": {"name": "w", "type": "user"}, "name": "new"},
        "id": opened,
    }
    assert "finished" in waited


# -- reads stay on finished data -------------------------------------------------------------


def test_get_file_on_a_branch_reads_the_finished_data_while_a_commit_is_open(dv: Dv) -> None:
    _with_open_commit(dv)
    dv.ok("put", "file", "w@master:/f", input=b"being written")

    assert dv.ok("get", "file", "w@master:/f") == "finished"
    dv.ok("finish", "commit", "w@master")
    assert dv.ok("get", "file", "w@master:/f") == "being written"


def test_the_branch_head_for_python_readers_stays_the_finished_commit(dv: Dv) -> None:
    finished, _ = _with_open_commit(dv)

    store: Store = dv.store
    assert store.inspect_branch("w@master").head == finished
    assert store.inspect_commit("w@master").id == finished
