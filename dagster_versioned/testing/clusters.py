"""Real executor back ends for the fan-out tests: a Dask scheduler and workers, Redis and Celery
workers, each a process of its own on 127.0.0.1, stopped by PID.

Every worker runs in an empty working directory of its own with its own cache directory
(``DAGSTER_VERSIONED_CACHE``) and ``HOME``: what the workers share is the store on the S3 server
and the Dagster instance, as on machines of a cluster.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent
START_SECONDS = 60.0
CELERY_REDELIVERY = {"task_acks_late": True, "task_reject_on_worker_lost": True}
"""Celery settings (docs/deploy.md's): a task whose worker dies goes back to the queue for
another worker, instead of failing its step."""
CELERY_REDELIVERY_YAML = "".join(
    f"      {k}: {str(v).lower()}\n" for k, v in CELERY_REDELIVERY.items()
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Processes:
    """Processes started in sessions of their own, with their logs."""

    root: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, command: Sequence[str], env: dict[str, str]) -> Path:
        """Start ``command`` in ``<root>/<name>/`` (empty, its own cache and HOME)."""
        home = self.root / name
        home.mkdir(parents=True, exist_ok=True)
        env = {
            **env,
            "HOME": str(home),
            "DAGSTER_VERSIONED_CACHE": str(home / "cache"),
            "PYTHONUNBUFFERED": "1",
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",  # dagster-celery runs `celery`
        }
        log = self.root / f"{name}.log"
        with log.open("ab") as out:
            self.procs[name] = subprocess.Popen(
                list(command), cwd=home, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        return home

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is None:
            return
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)

    def logs(self, chars: int = 4000) -> str:
        return "\n".join(
            f"--- {p.name} ---\n{p.read_text(errors='replace')[-chars:]}"
            for p in sorted(self.root.glob("*.log"))
        )


def wait_until(what: str, ready: Callable[[], bool], procs: Processes) -> None:
    deadline = time.monotonic() + START_SECONDS
    while not ready():
        for name, proc in procs.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}\n{procs.logs()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready within {START_SECONDS:.0f} s\n{procs.logs()}")
        time.sleep(0.2)


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``."""
    out, todo = [], [pid]
    while todo:
        kids = children(todo.pop())
        out += kids
        todo += kids
    return out


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(stat.parent.name))
    return out


@contextmanager
def dask_cluster(
    root: Path, env: dict[str, str], workers: int = 2
) -> Iterator[tuple[str, Processes]]:
    """A Dask scheduler and ``workers`` worker processes (one thread each, under a nanny that
    restarts a killed worker); yields the scheduler's address."""
    procs = Processes(root)
    port, dash = free_port(), free_port()
    try:
        procs.start(
            "dask-scheduler",
            [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
             "--dashboard-address", f"127.0.0.1:{dash}"],
            env,
        )  # fmt: skip
        wait_until("the Dask scheduler", lambda: listening(port), procs)
        address = f"tcp://127.0.0.1:{port}"
        for i in range(workers):
            procs.start(
                f"dask-worker-{i}",
                [str(BIN / "dask"), "worker", address, "--nworkers", "1", "--nthreads", "1",
                 "--host", "127.0.0.1", "--no-dashboard", "--name", f"w{i}"],
                env,
            )  # fmt: skip
        from distributed import Client

        with Client(address, timeout=START_SECONDS) as client:
            client.wait_for_workers(workers, timeout=START_SECONDS)
        yield address, procs
    finally:
        procs.stop_all()


@contextmanager
def celery_cluster(
    root: Path, env: dict[str, str], workers: int = 2
) -> Iterator[tuple[str, Processes]]:
    """Debian's ``redis-server`` as the broker and ``workers`` ``dagster-celery worker``
    processes (concurrency 1 each); yields the broker URL."""
    procs = Processes(root)
    port = free_port()
    try:
        procs.start(
            "redis",
            ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
             "--appendonly", "no"],
            env,
        )  # fmt: skip
        wait_until("redis-server", lambda: listening(port), procs)
        broker = f"redis://127.0.0.1:{port}/0"
        config = root / "celery.yaml"
        config.write_text(
            f"execution:\n  config:\n    broker: {broker}\n    backend: {broker}\n"
            f"    config_source:\n{CELERY_REDELIVERY_YAML}"
        )
        for i in range(workers):
            start_celery_worker(procs, i, config, env)
        for i in range(workers):
            wait_until(f"celery worker {i}", _ready(procs.root / f"celery-worker-{i}.log"), procs)
        yield broker, procs
    finally:
        procs.stop_all()


def _ready(log: Path) -> Callable[[], bool]:
    """Whether a Celery worker's log says it is ready for tasks."""
    return lambda: b" ready." in log.read_bytes()


def start_celery_worker(procs: Processes, i: int, config: Path, env: dict[str, str]) -> None:
    procs.start(
        f"celery-worker-{i}",
        [str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app",
         "-y", str(config), "-n", f"w{i}@%h",
         "--", "--concurrency", "1", "--pool", "prefork", "--without-mingle",
         "--without-gossip"],
        env,
    )  # fmt: skip
