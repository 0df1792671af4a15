"""``put file -r`` and ``get file -r`` draw one progress bar (files, bytes, rate, time left)
when stderr is a terminal, print nothing extra when it is not, and ``-q`` turns the bar off.

The terminal is a real pseudo-terminal (``pty``) on the stderr of the installed ``dvctl``.
"""

from __future__ import annotations

import os
import pty
import subprocess
from pathlib import Path

import pytest

from dagster_versioned.store import Store

from .helpers import env_without_storage

pytestmark = pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")


def _tree(root: Path) -> Path:
    Store.open(str(root / "store")).create_repo("r")
    for i in range(30):
        (root / "data" / f"d{i % 3}").mkdir(parents=True, exist_ok=True)
        (root / "data" / f"d{i % 3}" / f"f{i}.bin").write_bytes(os.urandom(20_000 + i))
    return root / "data"


def _run(dvctl: str, storage: Path, *args: str, tty: bool) -> tuple[int, bytes]:
    """Run dvctl with stderr on a pty (``tty``) or a pipe; return (status, stderr bytes)."""
    cmd = [dvctl, "--storage", str(storage), *args]
    env = {**env_without_storage(), "COLUMNS": "120", "TERM": "xterm"}
    if not tty:
        done = subprocess.run(cmd, capture_output=True, env=env, check=False)
        return done.returncode, done.stderr
    master, slave = pty.openpty()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=slave, env=env)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    return proc.wait(timeout=120), out


def test_put_and_get_of_a_directory_show_files_and_bytes_on_a_terminal(
    dvctl_path: str, tmp_path: Path
):
    source = _tree(tmp_path)
    storage = tmp_path / "store"
    status, err = _run(dvctl_path, storage, "put", "file", "-r", "r@master:/in", "-f",
                       str(source), tty=True)  # fmt: skip
    assert status == 0, err
    assert b"/30 files" in err
    assert Store.open(str(storage)).inspect_file("r@master:/in").size == sum(
        f.stat().st_size for f in source.rglob("*.bin")
    )

    status, err = _run(dvctl_path, storage, "get", "file", "-r", "r@master:/in", "-o",
                       str(tmp_path / "out"), tty=True)  # fmt: skip
    assert status == 0, err
    assert b"/30 files" in err
    assert sorted(p.relative_to(tmp_path / "out") for p in (tmp_path / "out").rglob("*.bin")) == (
        sorted(p.relative_to(source) for p in source.rglob("*.bin"))
    )
    assert (tmp_path / "out" / "d1" / "f4.bin").read_bytes() == (source / "d1/f4.bin").read_bytes()


def test_quiet_and_a_pipe_show_nothing(dvctl_path: str, tmp_path: Path):
    source = _tree(tmp_path)
    storage = tmp_path / "store"
    put = ("put", "file", "-r", "r@master:/in", "-f", str(source))
    assert _run(dvctl_path, storage, *put, "-q", tty=True) == (0, b"")
    assert _run(dvctl_path, storage, *put, tty=False) == (0, b"")
    get = ("get", "file", "-r", "r@master:/in", "-o", str(tmp_path / "o"))
    assert _run(dvctl_path, storage, *get, "--quiet", tty=True) == (0, b"")
    assert _run(dvctl_path, storage, *get[:-1], str(tmp_path / "p"), tty=False) == (0, b"")
