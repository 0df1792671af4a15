"""The store on an S3 that fails in passing: 500s, 503 SlowDown, dropped connections, delays.

A fault-injecting proxy (``s3_fault_proxy.py``) sits between s3fs and the moto server. Under a
random fault plan every operation either succeeds (after retries) or raises one
``dagster_versioned.errors`` error; afterwards, with the proxy passing everything through, fsck
is clean, every head is a finished commit whose files read back with their hashes, each landed
commit is in the history once, and every file holds what the last operation on it may have
written. Retries are bounded, logged, and never show a credential.

Run alone, ``test_random_faults`` prints its figures (faults injected by kind, operations
retried and succeeded, errors surfaced); docs/reliability.md quotes them.
"""

from __future__ import annotations

import logging
import os
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from dagster_versioned.errors import StorageError, StorageUnavailableError, VersionedError
from dagster_versioned.store import Store
from dagster_versioned.store.maintenance import fsck
from dagster_versioned.store.objects import hash_bytes
from dagster_versioned.store.opening import open_backend
from dagster_versioned.store.retry import RetryPolicy

from .s3_fault_proxy import (
    ERROR_AFTER,
    FAILING_KINDS,
    FAULT_KINDS,
    RESET_AFTER,
    FaultProxy,
)

pytestmark = pytest.mark.s3

SECRET = "dvS3faultSecret/Key+9zQ"
# CI size; a bigger run for the figures in docs/reliability.md, e.g.
# DV_S3_FAULT_ROUNDS=30 DV_S3_FAULT_RATE=0.5 pytest -s -k random tests/reliability/test_s3_faults.py
FAULT_RATE = float(os.environ.get("DV_S3_FAULT_RATE", "0.25"))
SEED = int(os.environ.get("DV_S3_FAULT_SEED", "20261123"))
ROUNDS = int(os.environ.get("DV_S3_FAULT_ROUNDS", "3"))
REPO = "data"
T = TypeVar("T")


@pytest.fixture
def proxy(s3_server: str) -> Iterator[FaultProxy]:
    with FaultProxy(s3_server, fault_rate=0.0, seed=SEED) as p:
        yield p


@pytest.fixture
def store(proxy: FaultProxy, s3_bucket: str) -> Store:
    """A store whose every request goes through the proxy (pass-through while it is set up)."""
    options = {
        "client_kwargs": {"endpoint_url": proxy.endpoint},
        "key": "testing",
        "secret": SECRET,
        "skip_instance_cache": True,
    }
    store = Store.open(f"s3://{s3_bucket}/store-{uuid.uuid4().hex[:8]}", **options)
    store.create_repo(REPO)
    return store


class RetryLog(logging.Handler):
    """Counts the store's retry records (each carries ``storage_attempt``)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.retries = 0
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())
        if hasattr(record, "storage_attempt"):
            self.retries += 1


@pytest.fixture
def retry_log() -> Iterator[RetryLog]:
    handler = RetryLog()
    logger = logging.getLogger("dagster_versioned.store")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


class Run:
    """Runs operations under faults, tallying how each ended; anything but a VersionedError
    (a raw botocore, aiohttp or OSError) is recorded as a failure of the test."""

    def __init__(self, log: RetryLog) -> None:
        self.log = log
        self.stats: Counter[str] = Counter()
        self.raw: list[str] = []
        self.surfaced: list[str] = []

    def __call__(self, name: str, fn: Callable[[], T]) -> tuple[bool, T | None]:
        before = self.log.retries
        self.stats["operations"] += 1
        try:
            result = fn()
        except VersionedError as e:
            # A storage error is a fault surfaced; others (a copy of a file a failed put never
            # wrote: PathNotFound) are the store answering correctly about its state.
            kind = "surfaced as errors" if isinstance(e, StorageError) else "other errors"
            self.stats[kind] += 1
            self.surfaced.append(f"{name}: {type(e).__name__}: {e}")
            if not str(e):
                self.raw.append(f"{name}: {type(e).__name__} without a message")
            return False, None
        except Exception as e:  # the thing that must not happen
            self.raw.append(f"{name}: {type(e).__module__}.{type(e).__name__}: {e}")
            return False, None
        if self.log.retries > before:
            self.stats["retried and succeeded"] += 1
        return True, result


def _content(path: str, n: int) -> bytes:
    return f"{path} version {n} ".encode() * (n % 7 + 1)


def test_random_faults_leave_every_operation_whole_or_cleanly_failed(
    store: Store, proxy: FaultProxy, retry_log: RetryLog
) -> None:
    run = Run(retry_log)
    # What each path may hold: one value after an operation that succeeded, any of several
    # after one that failed (it may or may not have landed). None is "absent".
    may_hold: dict[str, set[bytes | None]] = {}
    may_head: dict[str, set[str | None]] = {}
    landed: list[str] = []  # commits on master reported as landed
    n = 0

    def wrote(path: str, data: bytes | None, ok: bool) -> None:
        may_hold[path] = {data} if ok else may_hold.get(path, {None}) | {data}

    def recover_open_commit() -> None:
        """What a user does after a failed open commit: finish it (faults paused)."""
        rate, proxy.fault_rate = proxy.fault_rate, 0.0
        try:
            store.finish_commit(f"{REPO}@master")
        except VersionedError:
            pass  # there was none left open
        finally:
            proxy.fault_rate = rate

    proxy.fault_rate = FAULT_RATE
    started = time.monotonic()
    for round_ in range(ROUNDS):
        for i in range(3):  # one-shot puts
            n += 1
            path = f"/put/{i}.txt"
            ok, commit = run(
                "put_file", lambda p=path, k=n: store.put_file(f"{REPO}@master:{p}", _content(p, k))
            )
            wrote(path, _content(path, n), ok)
            if ok and commit is not None:
                landed.append(commit.id)

        def one_shot(k: int) -> str:
            with store.commit(f"{REPO}@master", description=f"batch {k}") as c:
                for j in range(2):
                    c.put_file(f"/batch/{j}.bin", _content(f"/batch/{j}", k))
            assert c.landed is not None
            return c.landed.id

        n += 1
        ok, cid = run("commit", lambda k=n: one_shot(k))
        for j in range(2):
            wrote(f"/batch/{j}.bin", _content(f"/batch/{j}", n), ok)
        if ok and cid is not None:
            landed.append(cid)

        # An open commit, several puts from a writer, then finish.
        n += 1
        k = n
        paths = [f"/open/{j}.txt" for j in range(3)]
        ok, _ = run("start_commit", lambda: store.start_commit(f"{REPO}@master"))
        results = []
        if ok:
            for p in paths:
                put_ok, _ = run(
                    "open put",
                    lambda p=p, k=k: store.open_writer(f"{REPO}@master").put_file(
                        p, _content(p, k)
                    ),
                )
                results.append(put_ok)
            ok, finished = run("finish_commit", lambda: store.finish_commit(f"{REPO}@master"))
            if ok and finished is not None:
                landed.append(finished.id)
            else:
                recover_open_commit()
        else:
            recover_open_commit()
        for p, put_ok in zip(paths, results + [False] * (3 - len(results)), strict=True):
            wrote(p, _content(p, k), ok and put_ok)

        # Copy by reference and delete.
        src, dst = "/put/0.txt", f"/copies/{round_}.txt"
        ok, commit = run(
            "copy_file",
            lambda s=src, d=dst: store.copy_file(f"{REPO}@master:{s}", f"{REPO}@master:{d}"),
        )
        may_hold[dst] = set(may_hold[src]) if ok else may_hold.get(dst, {None}) | may_hold[src]
        if ok and commit is not None:
            landed.append(commit.id)
        victim = f"/put/{round_ % 3}.txt"
        if round_ > 0:
            ok, commit = run(
                "delete_file", lambda v=victim: store.delete_file(f"{REPO}@master:{v}")
            )
            wrote(victim, None, ok)
            if ok and commit is not None:
                landed.append(commit.id)

        # Branches: create at master's head, then move back one commit.
        branch = f"feature-{round_}"
        ok, head = run("inspect_commit", lambda: store.inspect_commit(f"{REPO}@master"))
        if ok and head is not None:
            target = head.id
            ok, _ = run(
                "create_branch",
                lambda b=branch, t=target: store.create_branch(f"{REPO}@{b}", head=f"{REPO}@{t}"),
            )
            may_head[branch] = {target} if ok else may_head.get(branch, {None}) | {target}
            if head.parent is not None:
                parent = head.parent
                ok, _ = run(
                    "move branch",
                    lambda b=branch, t=parent: store.create_branch(
                        f"{REPO}@{b}", head=f"{REPO}@{t}"
                    ),
                )
                may_head[branch] = {parent} if ok else may_head[branch] | {parent}

        # Reads: what succeeds must be something the path may hold.
        for path in ("/batch/0.bin", "/open/1.txt"):
            ok, data = run("get_file", lambda p=path: store.get_file(f"{REPO}@master:{p}"))
            if ok:
                assert data in may_hold[path], f"{path} read back bytes nobody wrote"
        run("list_file", lambda: store.list_file(f"{REPO}@master:/"))
    elapsed = time.monotonic() - started
    requests = proxy.requests

    assert not run.raw, "operations raised errors outside dagster_versioned.errors:\n" + "\n".join(
        run.raw
    )
    proxy.fault_rate = 0.0  # pass-through from here on: check what the faults left behind
    report = fsck(store)
    assert report.ok, report.problems
    assert report.commits > 0

    verified: set[str] = set()
    for info in store.list_branch(REPO):
        head = store.inspect_commit(f"{REPO}@{info.name}")
        assert head.is_finished, f"{info.name} points at unfinished commit {head.id}"
        for f in store.walk_file(f"{REPO}@{head.id}"):
            if f.type == "file" and f.hash not in verified:
                verified.add(f.hash)
                data = store.get_file(f"{REPO}@{head.id}:{f.path}")
                assert hash_bytes(data) == f.hash, f"{info.name}:{f.path} does not match its hash"
        if info.name in may_head:
            assert head.id in may_head[info.name], f"{info.name} is at {head.id}, set by nobody"

    history = [c.id for c in store.list_commit(f"{REPO}@master")]
    assert len(history) == len(set(history)), "a commit appears twice in master's history"
    for cid in landed:
        assert history.count(cid) == 1, f"landed commit {cid} is not in the history once"
    for path, values in may_hold.items():
        try:
            actual: bytes | None = store.get_file(f"{REPO}@master:{path}")
        except VersionedError:
            actual = None
        assert actual in values, f"{path} holds bytes no operation on it wrote last"

    injected = sum(proxy.counts.values())
    figures = {
        "requests under faults": requests,
        "faults injected": injected,
        **{f"  {kind}": proxy.counts[kind] for kind in FAULT_KINDS},
        "retries logged": retry_log.retries,
        "operations": run.stats["operations"],
        "retried and succeeded": run.stats["retried and succeeded"],
        "surfaced as errors": run.stats["surfaced as errors"],
        "other errors": run.stats["other errors"],
        "seconds under faults": round(elapsed, 1),
    }
    print("\nS3 fault figures:", figures, *run.surfaced, sep="\n")
    assert injected > 0.6 * FAULT_RATE * requests, figures  # the plan did inject, at about its rate
    assert all(proxy.counts[kind] > 0 for kind in FAULT_KINDS), figures
    assert run.stats["retried and succeeded"] > 0, figures
    assert run.stats["surfaced as errors"] * 4 < run.stats["operations"], figures  # mostly retried


def _is_create_of(part: str) -> Callable[[str, str, Any], bool]:
    def match(method: str, path: str, headers: Any) -> bool:
        return method == "PUT" and part in path and headers.get("If-None-Match") == "*"

    return match


def _is_put_of(part: str) -> Callable[[str, str, Any], bool]:
    return lambda method, path, headers: method == "PUT" and part in path


@pytest.mark.parametrize(
    ("what", "match", "kind"),
    [
        ("branch advance", _is_create_of("/branches/master/"), RESET_AFTER),
        ("branch advance", _is_create_of("/branches/master/"), ERROR_AFTER),
        ("commit record", _is_put_of("/commits/"), RESET_AFTER),
        ("object", _is_put_of("/objects/"), ERROR_AFTER),
    ],
    ids=["ref-log-reset", "ref-log-500", "commit-record-reset", "object-500"],
)
def test_a_write_that_landed_but_whose_answer_was_lost_counts_once(
    store: Store, proxy: FaultProxy, retry_log: RetryLog, kind: str, what: str, match: Any
) -> None:
    """The dangerous fault: S3 stored the write, the client saw an error and retried.

    The retried exclusive create of a ref-log entry finds the key taken: by itself. It must
    recognise its own bytes, not report a lost race (which would land the commit twice).
    """
    store.put_file(f"{REPO}@master:/a", b"first")
    entries = len(store.branch_log(REPO, "master"))
    proxy.inject_once(kind, match)

    commit = store.put_file(f"{REPO}@master:/b", f"second {what}".encode())

    assert proxy.pending == 0, f"no {what} write went through the proxy"
    assert commit is not None
    log = store.branch_log(REPO, "master")
    assert len(log) == entries + 1, f"the commit moved master {len(log) - entries} times"
    assert log[-1].head == commit.id
    assert log[-1].previous == log[-2].head
    assert [c.id for c in store.list_commit(f"{REPO}@master")].count(commit.id) == 1
    assert store.get_file(f"{REPO}@master:/b") == f"second {what}".encode()
    assert fsck(store).ok


@pytest.mark.parametrize("kind", [RESET_AFTER, ERROR_AFTER])
def test_a_branch_move_whose_answer_was_lost_moves_it_once(
    store: Store, proxy: FaultProxy, kind: str
) -> None:
    first = store.put_file(f"{REPO}@master:/a", b"1")
    second = store.put_file(f"{REPO}@master:/a", b"2")
    assert first is not None
    assert second is not None
    store.create_branch(f"{REPO}@feature", head=f"{REPO}@{second.id}")
    before = len(store.branch_log(REPO, "feature"))
    proxy.inject_once(kind, _is_create_of("/branches/feature/"))

    store.create_branch(f"{REPO}@feature", head=f"{REPO}@{first.id}")

    assert proxy.pending == 0
    log = store.branch_log(REPO, "feature")
    assert [e.head for e in log[before - 1 :]] == [second.id, first.id]
    assert fsck(store).ok


def test_an_open_commit_whose_start_answer_was_lost_is_still_ours(
    store: Store, proxy: FaultProxy
) -> None:
    proxy.inject_once(RESET_AFTER, _is_create_of("/open-branches/master"))

    started = store.start_commit(f"{REPO}@master")

    assert proxy.pending == 0
    store.open_writer(f"{REPO}@master").put_file("/x", b"x")
    finished = store.finish_commit(f"{REPO}@master")
    assert finished.id == started.id
    assert store.get_file(f"{REPO}@master:/x") == b"x"
    assert fsck(store).ok


def test_a_store_that_always_fails_gives_up_in_bounded_time_with_a_clear_error(
    store: Store, proxy: FaultProxy, caplog: pytest.LogCaptureFixture
) -> None:
    proxy.kinds = FAILING_KINDS
    proxy.fault_rate = 1.0
    attempts = store.backend.retry.attempts
    caplog.set_level(logging.INFO, logger="dagster_versioned.store")

    started = time.monotonic()
    with pytest.raises(StorageUnavailableError) as raised:
        store.put_file(f"{REPO}@master:/never", b"never")
    elapsed = time.monotonic() - started

    error = raised.value
    assert elapsed < 15, f"gave up only after {elapsed:.1f}s"
    assert error.attempts == attempts
    assert f"retried {attempts - 1} times" in str(error)
    assert error.key in str(error)
    assert error.operation in str(error)
    retries = [r for r in caplog.records if hasattr(r, "storage_attempt")]
    assert [r.storage_attempt for r in retries] == list(range(1, attempts))  # type: ignore[attr-defined]
    assert all(error.key in r.getMessage() for r in retries)
    assert f"of {attempts}" in retries[-1].getMessage()
    assert f"after {attempts} attempts" in caplog.text
    whole = "".join(traceback.format_exception(error)) + caplog.text
    assert SECRET not in whole
    assert SECRET.split("/")[0] not in whole

    proxy.fault_rate = 0.0
    assert store.list_branch(REPO) == []  # nothing half-written became visible
    assert fsck(store).ok


def test_botocore_makes_one_attempt_unless_the_user_configured_its_retries(s3_server: str) -> None:
    """The backend's loop is the one that retries (and logs); a user's own setting wins."""
    options: dict[str, Any] = {
        "client_kwargs": {"endpoint_url": s3_server},
        "key": "testing",
        "secret": SECRET,
        "skip_instance_cache": True,
    }
    default = open_backend("s3://bucket/x", **options)
    assert default.fs.config_kwargs["retries"] == {"total_max_attempts": 1, "mode": "standard"}
    assert default.fs.retries == 1  # s3fs's own loop
    assert SECRET not in default.scrub(f"signed with {SECRET}")

    mine = {"retries": {"max_attempts": 7, "mode": "adaptive"}, "connect_timeout": 3}
    custom = open_backend(
        "s3://bucket/x", retry=RetryPolicy(attempts=2), config_kwargs=mine, **options
    )
    assert custom.fs.config_kwargs == mine
    assert custom.retry.attempts == 2
