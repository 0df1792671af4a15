"""Commits: the ``commit()`` context, shared open commits, finishing, listing, waiting.

A commit lands by applying its ops to the branch's current head and creating the next ref-log
entry; when another writer got there first, the ops are re-applied to the new head and the
create is retried, so concurrent writers to one branch all land and none is lost.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import replace

from dagster_versioned.errors import (
    AlreadyExists,
    BranchNotFound,
    CommitFinished,
    CommitNotFinished,
    CommitNotFound,
    Conflict,
    InvalidRef,
)
from dagster_versioned.store.commit_log import CommitLog
from dagster_versioned.store.commits import Commit, CommitId, CommitRef, Origin, new_commit_id, now
from dagster_versioned.store.names import is_commit_id, parse_branch_ref, parse_ref, parse_rev_ref
from dagster_versioned.store.objects import ObjectStore
from dagster_versioned.store.records import CommitSet
from dagster_versioned.store.refs import CAS_ATTEMPTS, RefLog
from dagster_versioned.store.repos import Repos
from dagster_versioned.store.resolve import Resolver
from dagster_versioned.store.revlog import race_backoff
from dagster_versioned.store.transaction import CommitWriter, Op, fold_ops
from dagster_versioned.store.trees import EMPTY_ROOT, Entry, TreeStore
from dagster_versioned.store.trigger_engine import TriggerEngine

_CAS_ATTEMPTS = CAS_ATTEMPTS
"""Lost races ``land`` retries before ``Conflict`` (a module global, so a test can lower it)."""


class Commits:
    """The commit operations of a store; also what its ``CommitWriter``s read through."""

    def __init__(
        self,
        objects: ObjectStore,
        trees: TreeStore,
        repos: Repos,
        refs: RefLog,
        commit_log: CommitLog,
        resolver: Resolver,
        triggers: TriggerEngine,
    ) -> None:
        self.objects = objects
        self.trees = trees
        self.repos = repos
        self.refs = refs
        self.commit_log = commit_log
        self.resolver = resolver
        self.triggers = triggers

    def lookup_entry(self, ref: str) -> tuple[Entry, str]:
        """The entry a ``copy_file`` source names (``resolve.py``)."""
        return self.resolver.lookup_entry(ref)

    @contextlib.contextmanager
    def commit(
        self,
        ref: str,
        *,
        description: str = "",
        commit_id: str | None = None,
        provenance: tuple[CommitRef, ...] = (),
        origin: Origin = Origin.USER,
    ) -> Iterator[CommitWriter]:
        """Write one commit: start, put/copy/delete, finish.

        An exception inside the block leaves the branch head as it was: nothing is visible
        until the ref-log entry is created, which is the last step.
        """
        parsed = parse_branch_ref(ref)
        self.repos.record(parsed.repo)
        cid = self._claim_id(parsed.repo, commit_id)
        ops: list[Op] = []
        writer = CommitWriter(self, parsed.repo, parsed.branch, ops.append, deferred=True)
        started = now()
        try:
            yield writer
        except BaseException:
            # Nothing may still be writing into the store once the block has ended, even when
            # it ended in an error: the caller may delete the store or retry at once.
            writer.settle_objects()
            raise
        writer.wait_for_objects()  # objects before the tree and commit that name them
        template = Commit(
            id=cid,
            repo=parsed.repo,
            branch=parsed.branch,
            parent=None,
            origin=origin,
            description=description,
            started=started,
            provenance=tuple(provenance),
        )
        writer.landed = self.land(template, ops)

    def _claim_id(self, repo: str, commit_id: str | None) -> CommitId:
        if commit_id is None:
            return new_commit_id()
        if not is_commit_id(commit_id):
            raise InvalidRef(f"invalid commit id {commit_id!r}: expected 32 lowercase hex digits")
        if self.commit_log.exists(repo, CommitId(commit_id)):
            raise AlreadyExists(f"commit {commit_id} already exists in repo '{repo}'")
        return CommitId(commit_id)

    def land(self, template: Commit, ops: list[Op]) -> Commit:
        """Apply ops on the branch's current head and move the head, retrying on a lost race."""
        repo, branch = template.repo, template.branch
        for attempt in range(_CAS_ATTEMPTS):
            current = self.refs.latest(repo, branch)
            if current is not None and current.head == template.id:  # landed by another finisher
                return self.commit_log.get(repo, template.id)
            live = current if current is not None and current.exists else None
            parent = self.commit_log.get(repo, live.head) if live and live.head else None
            base = parent.root if parent is not None else EMPTY_ROOT
            root = self.trees.apply(base, fold_ops(ops, self.trees, base))
            self.trees.flush()
            commit = replace(
                template.with_tree(root), parent=parent.id if parent else None, finished=now()
            )
            self.commit_log.write(commit)
            self.commit_log.note_subvenance(commit)
            trigger = live.trigger if live is not None else None
            if self.refs.append(
                current, repo=repo, branch=branch, head=commit.id, reason="commit", trigger=trigger
            ):
                self.commit_log.remember(commit)
                self.triggers.fire(repo, {branch})
                return commit
            race_backoff(attempt)
        read = current.seq if current is not None else None
        newest = self.refs.latest(repo, branch)
        found = newest.seq if newest is not None else None
        raise Conflict(
            f"could not commit to '{repo}@{branch}': other writers moved the branch first "
            f"{_CAS_ATTEMPTS} times (last read ref-log entry {read}, now {found}); "
            "too many concurrent writers",
            expected=read,
            got=found,
        )

    def start(
        self,
        ref: str,
        *,
        description: str = "",
        commit_id: str | None = None,
        provenance: tuple[CommitRef, ...] = (),
        origin: Origin = Origin.USER,
    ) -> Commit:
        """Open a commit on a branch that any process can write into until it is finished.

        One branch has at most one open commit; writes to the branch go into it.
        """
        parsed = parse_branch_ref(ref)
        repo, branch = parsed.repo, parsed.branch
        self.repos.record(repo)
        cid = self._claim_id(repo, commit_id)
        current = self.refs.head(repo, branch)
        commit = Commit(
            id=cid,
            repo=repo,
            branch=branch,
            parent=current.head if current else None,
            origin=origin,
            description=description,
            started=now(),
            provenance=tuple(provenance),
        )
        if not self.commit_log.open(commit):
            other = self.commit_log.open_id(repo, branch)
            raise CommitNotFinished(
                f"branch '{repo}@{branch}' already has open commit {other}; finish it first"
            )
        return commit

    def open_writer(self, ref: str) -> CommitWriter:
        """A writer into the branch's open commit (ops stored, so every process shares them)."""
        parsed = parse_branch_ref(ref.partition(":")[0])
        repo, branch = parsed.repo, parsed.branch
        cid = self.commit_log.open_id(repo, branch)
        if cid is None:
            raise CommitFinished(f"branch '{repo}@{branch}' has no open commit")

        def sink(op: Op) -> None:
            self.commit_log.add_op(repo, cid, op)

        return CommitWriter(self, repo, branch, sink)

    def finish(self, ref: str, *, description: str | None = None) -> Commit:
        """Finish the open commit named by ``repo@branch`` or ``repo@<id>``."""
        rev = parse_rev_ref(ref)
        repo = rev.repo
        self.repos.record(repo)
        cid = CommitId(rev.base) if rev.is_commit else self.commit_log.open_id(repo, rev.base)
        if cid is None:  # a finish killed after unmarking the branch left its commit open
            unmarked = self.commit_log.open_records(repo, rev.base)
            cid = unmarked[0].id if len(unmarked) == 1 else None
        record = self.commit_log.open_record(repo, cid) if cid is not None else None
        if record is None:
            if cid is not None and self.commit_log.exists(repo, cid):
                raise CommitFinished(f"commit {repo}@{cid} is already finished")
            raise CommitFinished(f"'{ref}' has no open commit to finish")
        # Unmark the branch before landing: a finish killed later leaves an open commit that
        # can be finished by id, never a marker sending new writes into a landed commit.
        self.commit_log.unmark(record)
        if description is not None:
            record = Commit.from_json({**record.to_json(), "description": description})
        commit = self._finish_once(record)
        self.commit_log.drop_open(record)
        return commit

    def _finish_once(self, record: Commit) -> Commit:
        """Land an open commit exactly once, however many processes finish it at one moment.

        Finishers race for a claim (an exclusive create); the winner lands the commit and the
        others wait until it has landed and return the same commit. A finish killed after
        landing but before cleaning up is seen as landed, so it is never landed again (it would
        become its own parent).
        """
        claim = self.commit_log.claim(record)
        delay = 0.01
        while True:
            landed = self._landed(record)
            if landed is not None:
                return landed
            if claim.acquire():
                try:
                    return self._landed(record) or self.land(record, self.commit_log.ops(record))
                except BaseException:
                    claim.release()
                    raise
            if claim.take_over_if_abandoned():
                continue
            time.sleep(delay)
            delay = min(delay * 2, 0.2)

    def _landed(self, record: Commit) -> Commit | None:
        """The finished commit if a ref-log entry of its branch already points at it."""
        if not self.commit_log.exists(record.repo, record.id):
            return None
        entries = self.refs.entries(record.repo, record.branch)
        if any(e.head == record.id for e in entries):
            return self.commit_log.get(record.repo, record.id)
        return None

    def delete(self, ref: str) -> None:
        """Abandon an open commit: its writes are dropped and the branch is unchanged."""
        rev = parse_rev_ref(ref)
        cid = CommitId(rev.base) if rev.is_commit else self.commit_log.open_id(rev.repo, rev.base)
        record = self.commit_log.open_record(rev.repo, cid) if cid else None
        if record is None:
            raise CommitFinished(f"'{ref}' is not an open commit; finished commits are immutable")
        self.commit_log.drop_open(record)

    def inspect(self, ref: str) -> Commit:
        return self.resolver.resolve(parse_rev_ref(ref), allow_open=True)

    def history(self, ref: str, *, number: int | None = None) -> list[Commit]:
        """Commits of ``repo@branch`` (its history, newest first) or of a whole ``repo``."""
        parsed = parse_ref(ref)
        self.repos.record(parsed.repo)
        rev = parsed.rev
        if rev is None:
            return self._list_repo(parsed.repo, number)
        # ``master^1`` starts below the head: an open commit on the branch is not in it.
        pending = rev.is_commit or rev.has_ancestry
        out = [] if pending else self.commit_log.open_records(rev.repo, rev.base)
        try:
            commit: Commit | None = self.resolver.resolve(rev)
        except BranchNotFound:
            if not out:
                raise
            commit = None  # a new branch whose first commit is still open
        while commit is not None and (number is None or len(out) < number):
            out.append(commit)
            commit = self.commit_log.get(rev.repo, commit.parent) if commit.parent else None
        landed = {c.id for c in out if c.is_finished}  # open records a killed finish left
        return [c for c in out if c.is_finished or c.id not in landed]

    def _list_repo(self, repo: str, number: int | None) -> list[Commit]:
        commits = [self.commit_log.get(repo, cid) for cid in self.commit_log.ids(repo)]
        finished = {c.id for c in commits}  # an open record a killed finish left behind
        commits += [c for c in self.commit_log.open_records(repo, None) if c.id not in finished]
        commits.sort(key=lambda c: (c.finished or c.started, c.started), reverse=True)
        return commits[:number] if number else commits

    def list_set(self, commit_id: str) -> list[Commit]:
        """Every commit with this global id, across all repos."""
        if not is_commit_id(commit_id):
            raise InvalidRef(f"invalid commit id {commit_id!r}: expected 32 lowercase hex digits")
        out = []
        for repo in self.repos.names():
            with contextlib.suppress(CommitNotFound):
                out.append(self.commit_log.get(repo, CommitId(commit_id)))
        return out

    def list_sets(self, *, number: int | None = None) -> list[CommitSet]:
        """Global commit sets, newest first (``dvctl list commit`` with no repo)."""
        by_id: dict[str, list[Commit]] = {}
        for repo in self.repos.names():
            for cid in self.commit_log.ids(repo):
                c = self.commit_log.get(repo, cid)
                by_id.setdefault(c.id, []).append(c)
        sets = [
            CommitSet(
                id=CommitId(cid),
                commits=tuple(cs),
                created=min(c.started for c in cs),
                modified=max(c.finished or c.started for c in cs),
            )
            for cid, cs in by_id.items()
        ]
        sets.sort(key=lambda s: s.created, reverse=True)
        return sets[:number] if number else sets

    def wait(self, ref: str, *, timeout: float | None = None) -> Commit:
        """Block until the commit is finished; ``CommitNotFinished`` after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.05
        while True:
            commit = self.inspect(ref)
            if commit.is_finished:
                return commit
            if deadline is not None and time.monotonic() > deadline:
                raise CommitNotFinished(f"commit '{ref}' did not finish within {timeout} seconds")
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


__all__ = ["Commits"]
