"""A throwaway PostgreSQL server for the deployed-instance test: initdb, start, always stop.

The server is Debian's (``apt-get install postgresql``), run from its binaries directly — no
cluster manager, no service — with its data directory, log and unix socket in a fresh temporary
directory, listening on a free port of 127.0.0.1 only, with ``trust`` authentication. PostgreSQL
refuses to run as root, so when the tests run as root the server runs as the ``postgres`` OS
user the package creates, and the temporary directory is handed to that user.

Where the binaries are missing the test cannot say anything about PostgreSQL: outside CI it
is skipped with the reason; in CI (``CI=true``), where ``.ci/run`` installs them, it fails.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

from .deployment import free_port

SUPERUSER = "dagster"
DATABASE = "dagster"
START_SECONDS = 60.0
STOP_SECONDS = 20.0
SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    # A test database: durability is not wanted, speed is.
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "100",
}


@dataclass(frozen=True)
class PostgresServer:
    """A running server: where to reach it, and where its data and log are."""

    port: int
    directory: Path

    host: str = "127.0.0.1"
    user: str = SUPERUSER
    database: str = DATABASE

    @property
    def url(self) -> str:
        """The libpq URL of the test database (no password: trust auth)."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"

    @property
    def sqlalchemy_url(self) -> str:
        """The URL for dagster-postgres, naming its driver: SQLAlchemy 2.1 maps a bare
        ``postgresql://`` to psycopg 3, which dagster-postgres does not install."""
        return self.url.replace("postgresql://", "postgresql+psycopg2://", 1)

    @property
    def log(self) -> Path:
        return self.directory / "postgres.log"

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """Rows of one SQL statement, over a connection of its own."""
        import psycopg2

        with psycopg2.connect(self.url) as conn, conn.cursor() as cur:
            cur.execute(sql, args)
            rows: list[tuple[Any, ...]] = cur.fetchall()
        conn.close()
        return rows


def _version(bindir: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", Path(bindir).parent.name))


def find_bindir() -> Path | None:
    """The directory of ``initdb`` and ``postgres``: ``$PG_BIN`` if set (and only it), else
    Debian's newest ``/usr/lib/postgresql/<version>/bin``, else the one on PATH."""
    if os.environ.get("PG_BIN"):
        candidates = [os.environ["PG_BIN"]]
    else:
        debian = glob.glob("/usr/lib/postgresql/*/bin")
        candidates = sorted(debian, key=_version, reverse=True)
        on_path = shutil.which("initdb")
        if on_path:
            candidates.append(str(Path(on_path).parent))
    for candidate in candidates:
        bindir = Path(candidate)
        if (bindir / "initdb").is_file() and (bindir / "postgres").is_file():
            return bindir
    return None


def missing(reason: str) -> NoReturn:
    """No server to test with: a failure in CI (which installs one), a skip elsewhere."""
    hint = "install Debian's server: apt-get install postgresql (or set PG_BIN to its bin/)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason}; CI must provide PostgreSQL ({hint})")
    pytest.skip(f"{reason}: {hint}")


def _server_user() -> pwd.struct_passwd | None:
    """The OS user the server runs as: ``postgres`` when we are root, else ourselves (None)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        missing("running as root, and there is no 'postgres' OS user to run the server as")


def _as_user(user: pwd.struct_passwd | None) -> dict[str, Any]:
    """``subprocess`` arguments that drop root for the server's user (and its groups only)."""
    if user is None:
        return {}
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def _run(args: list[str], user: pwd.struct_passwd | None, cwd: Path) -> None:
    done = subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=120, check=False, **_as_user(user)
    )
    if done.returncode != 0:
        pytest.fail(f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")


def _connectable(server: PostgresServer, proc: subprocess.Popen[bytes]) -> bool:
    import psycopg2

    if proc.poll() is not None:
        log = server.log.read_text(errors="replace")[-3000:]
        pytest.fail(f"postgres exited with code {proc.returncode}:\n{log}")
    try:
        psycopg2.connect(server.url.rsplit("/", 1)[0] + "/postgres", connect_timeout=2).close()
    except psycopg2.OperationalError:
        return False
    return True


def _create_database(server: PostgresServer) -> None:
    import psycopg2

    conn = psycopg2.connect(server.url.rsplit("/", 1)[0] + "/postgres")
    try:
        conn.autocommit = True  # CREATE DATABASE cannot run inside a transaction
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{server.database}"')
    finally:
        conn.close()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGINT is PostgreSQL's fast shutdown (disconnect clients, exit); SIGKILL if it hangs."""
    if proc.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=STOP_SECONDS)
    if proc.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """initdb a fresh cluster, start it on a free port, create the database; always stop it.

    The directory is made with ``tempfile`` under the system temp dir (short, so the unix
    socket path fits in its 107 bytes, and reachable by the ``postgres`` user, which pytest's
    private ``tmp_path`` is not).
    """
    bindir = find_bindir()
    if bindir is None:
        missing("PostgreSQL server binaries (initdb, postgres) not found")
    user = _server_user()
    directory = Path(tempfile.mkdtemp(prefix="dv-pg-"))
    proc: subprocess.Popen[bytes] | None = None
    try:
        if user is not None:
            os.chown(directory, user.pw_uid, user.pw_gid)
        data = directory / "data"
        _run(
            [str(bindir / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust",
             "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"],
            user, directory,
        )  # fmt: skip
        server = PostgresServer(port=free_port(), directory=directory)
        settings = [a for k, v in SERVER_SETTINGS.items() for a in ("-c", f"{k}={v}")]
        with server.log.open("wb") as out:
            if user is not None:
                os.chown(server.log, user.pw_uid, user.pw_gid)
            proc = subprocess.Popen(
                [str(bindir / "postgres"), "-D", str(data), "-p", str(server.port),
                 "-k", str(directory), *settings],
                cwd=directory, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                **_as_user(user),
            )  # fmt: skip
        deadline = time.monotonic() + START_SECONDS
        while not _connectable(server, proc):
            if time.monotonic() > deadline:
                pytest.fail(f"postgres did not accept connections in {START_SECONDS:.0f}s")
            time.sleep(0.2)
        _create_database(server)
        yield server
    finally:
        if proc is not None:
            _stop(proc)
        shutil.rmtree(directory, ignore_errors=True)
