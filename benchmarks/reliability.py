"""Benchmark-sized reliability runs: concurrent writers and SIGKILL crashes (issue 11).

Run on demand (never in CI)::

    .venv/bin/python -m benchmarks.reliability [--writers 8] [--commits 1000] [--kills 200]
                                               [--s3] [--only writers|crash]

The runs and their checks are the test suite's own (``tests/store/concurrent_run.py`` and
``tests/reliability/test_crash.py``), only bigger: the tests run 8 x 50 writers and 30 kills.

- writers: ``--writers`` processes each make ``--commits`` one-shot commits, first all to one
  branch, then each to a branch of its own; afterwards every commit must be in its branch's
  history exactly once, each history linear, each head the newest commit. On local disk, and
  with ``--s3`` also on moto's S3 server on 127.0.0.1 (``dagster_versioned.testing.s3server``).
- crash: a writer process killed with SIGKILL ``--kills`` times at random moments on local
  disk; after each kill fsck is clean, every head is finished and every file reads back whole,
  and every open commit left behind is finished or deleted.

Prints one line of figures per run (attempted / landed / lost commits, kills survived, time).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent.parent / "tests"


def _import_test_code() -> tuple[Any, Any]:
    # The tests are laid out for pytest's default import mode (``tests/`` on sys.path, packages
    # ``store`` and ``reliability``); spawned writers import their target the same way.
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))
    from reliability.test_crash import crash_run
    from store.concurrent_run import run_writers

    return run_writers, crash_run


def writers(url: str, options: dict[str, Any], args: argparse.Namespace, where: str) -> None:
    run_writers, _ = _import_test_code()
    for separate in (False, True):
        run = run_writers(
            f"{url}-{'own' if separate else 'one'}",
            options,
            processes=args.writers,
            per_process=args.commits,
            separate_branches=separate,
            timeout=args.timeout,
        )
        target = f"{run.branches} branches" if separate else "one branch"
        print(
            f"writers, {where}, {run.processes} x {run.per_process} to {target}: "
            f"{run.attempted} attempted, {run.landed} landed, {run.lost} lost; "
            f"{run.seconds:.0f} s ({run.landed / run.seconds:.1f} commits/s)",
            flush=True,
        )


def crash(base: Path, args: argparse.Namespace) -> None:
    _, crash_run = _import_test_code()
    run = crash_run(str(base / "crash-store"), kills=args.kills, seed=args.seed)
    print(
        f"crash, local disk: {run.kills} kills survived; {run.commits} commits in the repo; "
        f"{run.files_verified} files verified; open commits left behind: {run.open_finished} "
        f"finished, {run.open_deleted} deleted; {run.leftovers} leftovers reported by fsck; "
        f"{run.seconds:.0f} s",
        flush=True,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.reliability", description=__doc__)
    parser.add_argument("--writers", type=int, default=8, help="writer processes")
    parser.add_argument("--commits", type=int, default=1000, help="commits per writer")
    parser.add_argument("--kills", type=int, default=200, help="SIGKILLs of the crash run")
    parser.add_argument("--seed", type=int, default=20261123, help="seed of the crash run")
    parser.add_argument("--s3", action="store_true", help="also run the writers on moto S3")
    parser.add_argument("--s3-only", action="store_true", help="run the writers on S3 only")
    parser.add_argument("--only", choices=["writers", "crash"], help="run one kind of run")
    parser.add_argument(
        "--probe-moto",
        type=int,
        metavar="KEYS",
        help="only race 8 exclusive creates on KEYS keys, on stock and serial moto",
    )
    parser.add_argument(
        "--stock-moto",
        action="store_true",
        help="moto's threaded server (its conditional PUT is not atomic; the default serves "
        "one request at a time)",
    )
    parser.add_argument(
        "--timeout", type=float, default=4 * 3600.0, help="seconds to wait for the writers"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dv-reliability-") as tmp:
        base = Path(tmp)
        if args.probe_moto:
            _probe(base, args.probe_moto)
            return
        if args.only != "crash":
            if not args.s3_only:
                writers(str(base / "store"), {}, args, "local disk")
            if args.s3 or args.s3_only:
                _s3_writers(base, args)
        if args.only != "writers" and not args.s3_only:
            crash(base, args)


def _s3_writers(base: Path, args: argparse.Namespace) -> None:

    from dagster_versioned.testing.s3server import MotoServer

    server = MotoServer(base / "moto.log", serial=not args.stock_moto)
    where = "S3 (moto, one request at a time)" if not args.stock_moto else "S3 (stock moto)"
    with server:
        bucket = f"dv-bench-{uuid.uuid4().hex[:12]}"
        server.create_bucket(bucket)
        writers(f"s3://{bucket}/store", dict(server.storage_options), args, where)


def probe_conditional_put(endpoint: str, *, keys: int, writers: int = 8) -> int:
    """How many of ``keys`` keys more than one of ``writers`` threads created at once, each with
    ``PUT`` + ``If-None-Match: *`` (S3 lets exactly one succeed; 0 is the right answer)."""
    import threading

    from botocore.exceptions import ClientError

    from dagster_versioned.testing.s3server import s3_client

    def client() -> Any:
        return s3_client(endpoint)

    bucket = f"dv-probe-{uuid.uuid4().hex[:12]}"
    client().create_bucket(Bucket=bucket)
    clients = [client() for _ in range(writers)]
    doubled = 0
    for k in range(keys):
        created: list[int] = []
        barrier = threading.Barrier(writers)

        def create(
            i: int, key: str = f"k{k}", done: list[int] = created, start: Any = barrier
        ) -> None:
            start.wait()
            try:
                clients[i].put_object(Bucket=bucket, Key=key, Body=b"%d" % i, IfNoneMatch="*")
            except ClientError:
                return
            done.append(i)

        threads = [threading.Thread(target=create, args=(i,)) for i in range(writers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        doubled += len(created) > 1
    return doubled


def _probe(base: Path, keys: int) -> None:
    from dagster_versioned.testing.s3server import MotoServer

    for name, server in (
        ("stock (threaded)", MotoServer(base / "probe.log", serial=False)),
        ("one request at a time", MotoServer(base / "probe-serial.log", serial=True)),
    ):
        with server:
            doubled = probe_conditional_put(server.endpoint, keys=keys)
        print(
            f"moto {name}: {doubled} of {keys} keys created by more than one of 8 concurrent "
            "exclusive creates",
            flush=True,
        )


if __name__ == "__main__":
    main()
