"""The tools ``benchmarks.run`` compares: our store, ``cp -r``, git, DVC and Oxen.

Every tool works on a directory ``work`` holding the data under ``work/data``. ``init`` times
making ``work`` a repository, ``commit`` times committing ``data``: all of it (``changed=None``,
the first commit) or what changed since (cases C and D). Each returns seconds.

How each is timed, so the ratios can be read fairly:

* git and DVC run as their command-line tools: wall time of the commands, process start included
  (that is what their users wait for).
* Oxen (the ``oxenai`` package) has no command-line tool in its wheel, only Python bindings to
  its Rust core; ``oxen_worker.py`` runs ``Repo.init/add/commit`` in a subprocess and reports the
  time of those calls alone (interpreter start excluded: in Oxen's favour).
* Ours runs in this process, ``Store.open`` included in every timing, so no cache survives from
  one timed operation to the next (like a new process). Ours is told which files changed
  (``put_file`` per path, as a Pachyderm user does); git, DVC and Oxen find out by scanning.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from dagster_versioned.store import Store

VENV_BIN = Path(sys.executable).parent
OXEN_WORKER = Path(__file__).with_name("oxen_worker.py")


class Tool:
    """A versioning tool under test; ``missing`` says why it cannot run here (``None``: it can)."""

    name = ""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.missing: str | None = None

    def init(self, work: Path) -> float:
        raise NotImplementedError

    def commit(self, work: Path, changed: list[str] | None) -> float:
        raise NotImplementedError

    def init_commit(self, work: Path) -> float:
        """Case A: make a repository and commit everything."""
        return self.init(work) + self.commit(work, None)

    def run(self, *cmd: str, cwd: Path) -> float:
        start = time.perf_counter()
        done = subprocess.run(cmd, cwd=cwd, env=self.env, capture_output=True, check=False)
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(
                f"{self.name}: {' '.join(cmd)} failed ({done.returncode}): "
                f"{done.stderr.decode(errors='replace')[-2000:]}"
            )
        return elapsed


class Ours(Tool):
    name = "ours"

    def init(self, work: Path) -> float:
        start = time.perf_counter()
        Store.open(str(work / "store")).create_repo("data")
        return time.perf_counter() - start

    def commit(self, work: Path, changed: list[str] | None) -> float:
        start = time.perf_counter()
        store = Store.open(str(work / "store"))
        with store.commit("data@master") as c:
            if changed is None:
                c.put_file("/", work / "data")
            for rel in changed or ():
                c.put_file(f"/{rel}", work / "data" / rel)
        return time.perf_counter() - start


class Cp(Tool):
    """``cp -r``: the physical limit of writing the same files on this disk."""

    name = "cp"

    def init(self, work: Path) -> float:
        return 0.0

    def commit(self, work: Path, changed: list[str] | None) -> float:
        if changed is not None:
            raise NotImplementedError("cp has no commits")
        return self.run("cp", "-r", "data", "copy", cwd=work)


class Git(Tool):
    name = "git"

    def __init__(self, env: dict[str, str]) -> None:
        super().__init__(env)
        if shutil.which("git", path=env.get("PATH")) is None:
            self.missing = "not installed"

    def init(self, work: Path) -> float:
        return self.run("git", "init", "-q", cwd=work)

    def commit(self, work: Path, changed: list[str] | None) -> float:
        return self.run("git", "add", "-A", cwd=work) + self.run(
            "git", "commit", "-q", "-m", "bench", cwd=work
        )


class Dvc(Tool):
    """``dvc add data && dvc commit`` in a git + DVC repo; DVC's cache is ``.dvc/cache``,
    on the same disk; analytics and autostage off."""

    name = "DVC"

    def __init__(self, env: dict[str, str]) -> None:
        super().__init__(env)
        # DVC lives in its own venv (.venv-dvc, or $BENCH_DVC): it pins an old ANTLR runtime
        # (through hydra-core) that breaks Dagster's asset selection in a shared venv.
        side_venv = Path(__file__).resolve().parent.parent / ".venv-dvc" / "bin" / "dvc"
        self.exe = os.environ.get("BENCH_DVC") or next(
            (str(p) for p in (side_venv, VENV_BIN / "dvc") if p.exists()), shutil.which("dvc")
        )
        if self.exe is None:
            self.missing = (
                "not installed (python3 -m venv .venv-dvc && .venv-dvc/bin/pip install dvc)"
            )

    def init(self, work: Path) -> float:
        assert self.exe is not None
        return (
            self.run("git", "init", "-q", cwd=work)
            + self.run(self.exe, "init", "-q", cwd=work)
            + self.run(self.exe, "config", "core.autostage", "false", cwd=work)
            + self.run(self.exe, "config", "core.analytics", "false", cwd=work)
        )

    def commit(self, work: Path, changed: list[str] | None) -> float:
        assert self.exe is not None
        return self.run(self.exe, "add", "-q", "data", cwd=work) + self.run(
            self.exe, "commit", "-q", "-f", cwd=work
        )


class Oxen(Tool):
    """Oxen through its Python bindings (``oxen add`` and ``oxen commit`` of its Rust core)."""

    name = "Oxen"

    def __init__(self, env: dict[str, str]) -> None:
        super().__init__(env)
        try:
            import oxen  # noqa: F401
        except ImportError:
            self.missing = "not installed (pip install '.[bench]')"

    def _worker(self, action: str, work: Path) -> float:
        done = subprocess.run(
            [sys.executable, str(OXEN_WORKER), action, str(work)],
            env=self.env,
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"Oxen {action} failed: {done.stderr.decode()[-2000:]}")
        return float(json.loads(done.stdout.decode().strip().splitlines()[-1])["seconds"])

    def init(self, work: Path) -> float:
        return self._worker("init", work)

    def commit(self, work: Path, changed: list[str] | None) -> float:
        return self._worker("commit", work)


PEERS: tuple[type[Tool], ...] = (Git, Dvc, Oxen)


def tool_env(home: Path) -> dict[str, str]:
    """An environment that keeps the peers' configuration and telemetry off this machine."""
    home.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@example.com",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@example.com",
        "DVC_NO_ANALYTICS": "1",
        # git's automatic repack runs detached after a large commit: not part of the commit's
        # time, but it would load the machine while the next tool is timed.
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "gc.auto",
        "GIT_CONFIG_VALUE_0": "0",
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
