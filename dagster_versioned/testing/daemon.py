"""A real ``dagster-daemon`` for end-to-end tests: started on a fresh ``DAGSTER_HOME``, stopped by
its process group, its log kept for the failure message.

The instance runs queued runs one second after they are requested, and its databases are made
before the daemon starts: the daemon's threads otherwise race to run the same schema migration.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import dagster as dg

QUEUED_INSTANCE = """\
telemetry:
  enabled: false
run_coordinator:
  module: dagster
  class: QueuedRunCoordinator
  config:
    dequeue_interval_seconds: 1
"""

T = TypeVar("T")


class DagsterDaemon:
    """``with DagsterDaemon(home, ["-f", "definitions.py"], cwd=project) as daemon: ...``"""

    def __init__(
        self,
        home: Path,
        target: Sequence[str],
        *,
        cwd: Path,
        env: dict[str, str] | None = None,
        wait_seconds: float = 180,
    ) -> None:
        self.home, self.target, self.cwd = home, list(target), cwd
        self.env = {**(env if env is not None else os.environ), "DAGSTER_HOME": str(home)}
        self.log = home.parent / f"{home.name}-daemon.log"
        self.wait_seconds = wait_seconds
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> DagsterDaemon:
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "dagster.yaml").write_text(QUEUED_INSTANCE)
        with dg.DagsterInstance.from_config(str(self.home)):
            pass
        daemon = str(Path(sys.executable).with_name("dagster-daemon"))
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [daemon, "run", *self.target],
                cwd=self.cwd, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        return self

    def __exit__(
        self, kind: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop the daemon's process group; one that exited on its own (what a failure looks
        like) must not raise over the assertion that explains why."""
        process = self.process
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def wait_for(self, what: str, check: Callable[[], T]) -> T:
        """``check()``'s first truthy value; an error with the log's tail if the daemon exits
        or ``wait_seconds`` pass first."""
        deadline = time.monotonic() + self.wait_seconds
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"dagster-daemon exited:\n{self.tail()}")
            time.sleep(0.5)
        raise AssertionError(
            f"timed out after {self.wait_seconds:g}s waiting for {what}:\n{self.tail()}"
        )


__all__ = ["QUEUED_INSTANCE", "DagsterDaemon"]
