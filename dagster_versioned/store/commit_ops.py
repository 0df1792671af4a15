"""Commits: the ``commit()`` context, shared open commits, finishing, listing, waiting.

A commit lands by applying its ops to the branch's current head and creating the next ref-log
entry; when another writer got there first, the ops are re-applied to the new head and the
create is retried, so concurrent writers to one branch all land and none is lost.
"""

from __future__ import annotations

import contextlib
import json
import random
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
from dagster_versioned.store.base import _CAS_ATTEMPTS
from dagster_versioned.store.branches import BranchOps
from dagster_versioned.store.commits import (
    Commit,
    CommitId,
    CommitRef,
    Origin,
    canonical_json,
    new_commit_id,
    now,
)
from dagster_versioned.store.finishing import FinishClaim, claim_key
from dagster_versioned.store.names import (
    is_commit_id,
)
from dagster_versioned.store.records import CommitSet
from dagster_versioned.store.transaction import CommitWriter, Op, fold_ops
from dagster_versioned.store.trees import EMPTY_ROOT


class CommitOps(BranchOps):
    """Commit operations of ``Store``."""

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
        parsed = self._branch_ref(ref)
        assert parsed.base is not None
        self._repo_record(parsed.repo)
        cid = self._claim_id(parsed.repo, commit_id)
        ops: list[Op] = []
        writer = CommitWriter(self, parsed.repo, parsed.base, ops.append, deferred=True)
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
            branch=parsed.base,
            parent=None,
            origin=origin,
            description=description,
            started=started,
            provenance=tuple(provenance),
        )
        writer.landed = self._land(template, ops)

    def _claim_id(self, repo: str, commit_id: str | None) -> CommitId:
        if commit_id is None:
            return new_commit_id()
        if not is_commit_id(commit_id):
            raise InvalidRef(f"invalid commit id {commit_id!r}: expected 32 lowercase hex digits")
        if self.backend.exists(self._commit_key(repo, CommitId(commit_id))):
            raise AlreadyExists(f"commit {commit_id} already exists in repo '{repo}'")
        return CommitId(commit_id)

    def _land(self, template: Commit, ops: list[Op]) -> Commit:
        """Apply ops on the branch's current head and move the head, retrying on a lost race."""
        repo, branch = template.repo, template.branch
        for attempt in range(_CAS_ATTEMPTS):
            current = self.refs.latest(repo, branch)
            if current is not None and current.head == template.id:  # landed by another finisher
                return self._commit(repo, template.id)
            parent = (
                self._commit(repo, current.head)
                if current and current.exists and current.head
                else None
            )
            base = parent.root if parent is not None else EMPTY_ROOT
            root = self.trees.apply(base, fold_ops(ops, self.trees, base))
            self.trees.flush()
            commit = replace(
                template.with_tree(root), parent=parent.id if parent else None, finished=now()
            )
            self.backend.write(self._commit_key(repo, commit.id), commit.to_bytes())
            for prov in commit.provenance:
                if prov.repo != repo:
                    self.backend.write(f"repos/{prov.repo}/subvenance/{repo}", b"")
            trigger = current.trigger if current is not None and current.exists else None
            if self.refs.append(
                current, repo=repo, branch=branch, head=commit.id, reason="commit", trigger=trigger
            ):
                self._commits[(repo, commit.id)] = commit
                self._fire_triggers(repo, {branch})
                return commit
            self._backoff(attempt)
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

    def start_commit(
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
        parsed = self._branch_ref(ref)
        repo, branch = parsed.repo, parsed.base
        assert branch is not None
        self._repo_record(repo)
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
        # Record first, marker second: a crash in between leaves an open commit that can be
        # listed, finished or deleted, never a marker naming a commit that does not exist.
        self.backend.write(f"repos/{repo}/open-commits/{cid}.json", commit.to_bytes())
        if not self.backend.create(f"repos/{repo}/open-branches/{branch}", cid.encode()):
            self.backend.delete(f"repos/{repo}/open-commits/{cid}.json")
            other = self._open_id(repo, branch)
            raise CommitNotFinished(
                f"branch '{repo}@{branch}' already has open commit {other}; finish it first"
            )
        return commit

    def open_writer(self, ref: str) -> CommitWriter:
        """A writer into the branch's open commit (ops stored, so every process shares them)."""
        parsed = self._branch_ref(ref.partition(":")[0])
        repo, branch = parsed.repo, parsed.base
        assert branch is not None
        cid = self._open_id(repo, branch)
        if cid is None:
            raise CommitFinished(f"branch '{repo}@{branch}' has no open commit")

        def sink(op: Op) -> None:
            name = f"{time.time_ns():020d}-{random.getrandbits(48):012x}.json"
            self.backend.write(f"repos/{repo}/open-commits/{cid}/{name}", canonical_json(op))

        return CommitWriter(self, repo, branch, sink)

    def finish_commit(self, ref: str, *, description: str | None = None) -> Commit:
        """Finish the open commit named by ``repo@branch`` or ``repo@<id>``."""
        parsed = self._parse(ref)
        repo = parsed.repo
        self._repo_record(repo)
        if parsed.base is None:
            raise InvalidRef(f"invalid ref '{ref}': name a branch or commit, like {repo}@master")
        cid = CommitId(parsed.base) if parsed.is_commit else self._open_id(repo, parsed.base)
        if cid is None:  # a finish killed after unmarking the branch left its commit open
            unmarked = self._open_commits(repo, parsed.base)
            cid = unmarked[0].id if len(unmarked) == 1 else None
        record = self._open_commit(repo, cid) if cid is not None else None
        if record is None:
            if cid is not None and self.backend.exists(self._commit_key(repo, cid)):
                raise CommitFinished(f"commit {repo}@{cid} is already finished")
            raise CommitFinished(f"'{ref}' has no open commit to finish")
        # Unmark the branch before landing: a finish killed later leaves an open commit that
        # can be finished by id, never a marker sending new writes into a landed commit.
        if self._open_id(repo, record.branch) == record.id:
            self.backend.delete(f"repos/{repo}/open-branches/{record.branch}")
        if description is not None:
            record = Commit.from_json({**record.to_json(), "description": description})
        commit = self._finish_once(record)
        self._drop_open(repo, record)
        return commit

    def _finish_once(self, record: Commit) -> Commit:
        """Land an open commit exactly once, however many processes finish it at one moment.

        Finishers race for a claim (an exclusive create); the winner lands the commit and the
        others wait until it has landed and return the same commit. A finish killed after
        landing but before cleaning up is seen as landed, so it is never landed again (it would
        become its own parent).
        """
        repo = record.repo
        claim = FinishClaim(self.backend, repo, record.id)
        delay = 0.01
        while True:
            landed = self._landed(record)
            if landed is not None:
                return landed
            if claim.acquire():
                try:
                    return self._landed(record) or self._land(record, self._open_ops(record))
                except BaseException:
                    claim.release()
                    raise
            if claim.take_over_if_abandoned():
                continue
            time.sleep(delay)
            delay = min(delay * 2, 0.2)

    def _open_ops(self, record: Commit) -> list[Op]:
        """The writes stored in an open commit, in the order they were made."""
        if self._open_commit(record.repo, record.id) is None:
            raise CommitFinished(f"open commit {record.repo}@{record.id} was deleted")
        op_dir = f"repos/{record.repo}/open-commits/{record.id}"
        names = self.backend.listdir(op_dir)
        return [json.loads(self.backend.read(f"{op_dir}/{n}")) for n in names]

    def _landed(self, record: Commit) -> Commit | None:
        """The finished commit if a ref-log entry of its branch already points at it."""
        if not self.backend.exists(self._commit_key(record.repo, record.id)):
            return None
        entries = self.refs.entries(record.repo, record.branch)
        if any(e.head == record.id for e in entries):
            return self._commit(record.repo, record.id)
        return None

    def _drop_open(self, repo: str, record: Commit) -> None:
        """Remove an open commit's files; the branch marker only if it still names it."""
        if self._open_id(repo, record.branch) == record.id:
            self.backend.delete(f"repos/{repo}/open-branches/{record.branch}")
        self.backend.delete(f"repos/{repo}/open-commits/{record.id}.json")
        self.backend.delete_tree(f"repos/{repo}/open-commits/{record.id}")
        self.backend.delete(claim_key(repo, record.id))

    def delete_commit(self, ref: str) -> None:
        """Abandon an open commit: its writes are dropped and the branch is unchanged."""
        parsed = self._parse(ref)
        if parsed.base is None:
            raise InvalidRef(
                f"invalid ref '{ref}': name a branch or commit, like {parsed.repo}@master"
            )
        cid = CommitId(parsed.base) if parsed.is_commit else self._open_id(parsed.repo, parsed.base)
        record = self._open_commit(parsed.repo, cid) if cid else None
        if record is None:
            raise CommitFinished(f"'{ref}' is not an open commit; finished commits are immutable")
        self._drop_open(parsed.repo, record)

    def inspect_commit(self, ref: str) -> Commit:
        return self._resolve(self._parse(ref), allow_open=True)

    def list_commit(self, ref: str, *, number: int | None = None) -> list[Commit]:
        """Commits of ``repo@branch`` (its history, newest first) or of a whole ``repo``."""
        parsed = self._parse(ref)
        self._repo_record(parsed.repo)
        if parsed.base is None:
            commits = [
                self._commit(parsed.repo, CommitId(n[:-5]))
                for n in self.backend.listdir(f"repos/{parsed.repo}/commits")
                if n.endswith(".json")
            ]
            finished = {c.id for c in commits}  # an open record a killed finish left behind
            commits += [c for c in self._open_commits(parsed.repo, None) if c.id not in finished]
            commits.sort(key=lambda c: (c.finished or c.started, c.started), reverse=True)
            return commits[:number] if number else commits
        out = [] if parsed.is_commit else self._open_commits(parsed.repo, parsed.base)
        try:
            commit: Commit | None = self._resolve(parsed)
        except BranchNotFound:
            if not out:
                raise
            commit = None  # a new branch whose first commit is still open
        while commit is not None and (number is None or len(out) < number):
            out.append(commit)
            commit = self._commit(parsed.repo, commit.parent) if commit.parent else None
        landed = {c.id for c in out if c.is_finished}  # open records a killed finish left
        return [c for c in out if c.is_finished or c.id not in landed]

    def _open_commits(self, repo: str, branch: str | None) -> list[Commit]:
        names = self.backend.listdir(f"repos/{repo}/open-commits")
        out = []
        for name in names:
            if name.endswith(".json"):
                record = self._open_commit(repo, CommitId(name[:-5]))
                if record is not None and (branch is None or record.branch == branch):
                    out.append(record)
        return out

    def list_commit_set(self, commit_id: str) -> list[Commit]:
        """Every commit with this global id, across all repos."""
        if not is_commit_id(commit_id):
            raise InvalidRef(f"invalid commit id {commit_id!r}: expected 32 lowercase hex digits")
        out = []
        for repo in self.backend.listdir("repos"):
            with contextlib.suppress(CommitNotFound):
                out.append(self._commit(repo, CommitId(commit_id)))
        return out

    def list_commit_sets(self, *, number: int | None = None) -> list[CommitSet]:
        """Global commit sets, newest first (``dvctl list commit`` with no repo)."""
        by_id: dict[str, list[Commit]] = {}
        for repo in self.backend.listdir("repos"):
            for name in self.backend.listdir(f"repos/{repo}/commits"):
                if name.endswith(".json"):
                    c = self._commit(repo, CommitId(name[:-5]))
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

    def wait_commit(self, ref: str, *, timeout: float | None = None) -> Commit:
        """Block until the commit is finished; ``CommitNotFinished`` after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.05
        while True:
            commit = self.inspect_commit(ref)
            if commit.is_finished:
                return commit
            if deadline is not None and time.monotonic() > deadline:
                raise CommitNotFinished(f"commit '{ref}' did not finish within {timeout} seconds")
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
