"""The ``transform.cmd`` subprocesses of running jobs, so an ended job can end them.

Datums run on worker threads; when Dagster terminates a run only the main thread is
interrupted, and a thread cannot be stopped from outside. Commands are processes, though: each
is registered under its job while it runs, so ``cancel_commands`` can kill the job's commands
and refuse new ones (further tries, ``err_cmd``) — nothing of a killed job keeps running.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
from pathlib import Path


class _Commands:
    """Running commands and cancelled jobs, keyed ``<pipeline>@<job id>``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.live: dict[str, set[subprocess.Popen[bytes]]] = {}
        self.cancelled: set[str] = set()


_COMMANDS = _Commands()


def cancel_commands(pipeline: str, job_id: str) -> None:
    """Kill every running command of job ``<pipeline>@<job_id>`` and refuse to start more."""
    key = f"{pipeline}@{job_id}"
    with _COMMANDS.lock:
        _COMMANDS.cancelled.add(key)
        procs = list(_COMMANDS.live.get(key, ()))
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()


def release_commands(pipeline: str, job_id: str) -> None:
    """Forget a job's cancellation: a new batch of it is starting (a restart)."""
    with _COMMANDS.lock:
        _COMMANDS.cancelled.discard(f"{pipeline}@{job_id}")


def commands_cancelled(pipeline: str, job_id: str) -> bool:
    with _COMMANDS.lock:
        return f"{pipeline}@{job_id}" in _COMMANDS.cancelled


def run_command(
    argv: list[str],
    data: bytes,
    *,
    env: dict[str, str],
    cwd: Path,
    timeout: float | None,
    job: str,
) -> tuple[bytes, bytes, int]:
    """Run ``argv`` to its end, registered under ``job`` (``<pipeline>@<id>``) so that
    ``cancel_commands`` can kill it; returns stdout, stderr and the exit code."""
    with _COMMANDS.lock:
        if job in _COMMANDS.cancelled:
            raise RuntimeError("the job was killed")
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                cwd=cwd,
            )
        except OSError as e:
            raise RuntimeError(f"cannot run {argv[0]!r}: {e.strerror or e}") from e
        _COMMANDS.live.setdefault(job, set()).add(proc)
    try:
        out, err = proc.communicate(data, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        proc.kill()
        proc.communicate()
        raise TimeoutError(f"datum timed out after {timeout:g}s") from e
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        with _COMMANDS.lock:
            _COMMANDS.live[job].discard(proc)
            if not _COMMANDS.live[job]:
                del _COMMANDS.live[job]
    return out, err, proc.returncode
