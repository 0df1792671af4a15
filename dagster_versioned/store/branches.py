"""Branches: create (with an AUTO commit), move (``head=``), set triggers, list, delete.

Every change to a branch is one entry in its ref log (``refs.py``). The triggers on a branch are
evaluated on every move of its head, whatever moved it: a landed commit, a new branch's AUTO
commit, a move by hand (``head=``, forward or back), a trigger firing on a commit or in
``evaluate_trigger`` (the cron sensor's entry point). A branch a trigger moved is itself a
source, so chains fire transitively in one evaluation, and every firing is one ref-log entry:
downstream sees exactly one head move per firing. Whether a trigger fires is
``triggers.should_fire``; it never moves its target back to a commit the target already holds.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from dagster_versioned.errors import (
    CommitNotFinished,
    Conflict,
    InvalidRef,
    InvalidTrigger,
)
from dagster_versioned.store.base import _CAS_ATTEMPTS, StoreBase
from dagster_versioned.store.commits import (
    Commit,
    CommitId,
    Origin,
    new_commit_id,
    now,
)
from dagster_versioned.store.names import (
    validate_branch_name,
)
from dagster_versioned.store.records import BranchInfo
from dagster_versioned.store.refs import BranchHead, Reason
from dagster_versioned.store.triggers import Trigger, should_fire

_MAX_CHAIN = 64
"""Rounds of one trigger evaluation (a chain longer than this is a loop), and how many entries
back ``_moved_at`` looks for the one that moved the head."""


class BranchOps(StoreBase):
    """Branch operations of ``Store``."""

    def create_branch(
        self, ref: str, *, head: str | None = None, trigger: Trigger | None = None
    ) -> BranchInfo:
        """Create a branch, or move its head (``head=`` any ref), or set its trigger.

        A new branch with no ``head`` gets an empty AUTO commit, like Pachyderm. Calling it
        again without ``trigger`` keeps the branch's trigger; delete the branch to clear it.
        """
        parsed = self._branch_ref(ref)
        repo, branch = parsed.repo, parsed.base
        assert branch is not None
        self._repo_record(repo)
        target = self._resolve(self._parse(head)) if head is not None else None
        if target is not None and target.repo != repo:
            raise InvalidRef(f"head '{head}' is in repo '{target.repo}', not in '{repo}'")
        if target is not None and not target.is_finished:
            raise CommitNotFinished(f"head '{head}' is an open commit; finish it first")
        if trigger is not None:
            self._check_trigger_loop(repo, branch, trigger)
            # Index first, entry second: a reader that finds the trigger finds the index entry.
            self.backend.write(f"repos/{repo}/triggers/{branch}", b"")
        for attempt in range(_CAS_ATTEMPTS):
            current = self.refs.latest(repo, branch)
            exists = current is not None and current.exists
            keep = (
                trigger
                if trigger is not None
                else (current.trigger if exists and current else None)
            )
            new_head: CommitId | None
            reason: Reason
            if target is not None:
                new_head, reason = target.id, ("move" if exists else "create")
            elif exists:
                assert current is not None
                if trigger is None or trigger == current.trigger:
                    return self._branch_info(current)
                new_head, reason = current.head, "config"
            else:
                new_head, reason = self._auto_commit(repo, branch).id, "create"
            entry = self.refs.append(
                current, repo=repo, branch=branch, head=new_head, reason=reason, trigger=keep
            )
            if entry is not None:
                if entry.moved:  # a new head (also an AUTO commit or a move back): as a commit
                    self._fire_triggers(repo, {branch})
                if trigger is not None:  # a new trigger is checked at once, as in Pachyderm
                    self._fire_triggers(repo, {trigger.branch}, only=branch)
                return self.inspect_branch(f"{repo}@{branch}")
            self._backoff(attempt)
        raise Conflict(f"could not update branch '{repo}@{branch}': too many concurrent writers")

    def _auto_commit(self, repo: str, branch: str) -> Commit:
        at = now()
        commit = Commit(
            id=new_commit_id(),
            repo=repo,
            branch=branch,
            parent=None,
            origin=Origin.AUTO,
            started=at,
            finished=at,
        )
        self.backend.write(self._commit_key(repo, commit.id), commit.to_bytes())
        return commit

    def _check_trigger_loop(self, repo: str, branch: str, trigger: Trigger) -> None:
        path = [branch]
        source: str | None = trigger.branch
        while source is not None:
            path.append(source)
            if source in path[:-1]:
                raise InvalidTrigger(
                    f"triggers cannot form a loop: a trigger of '{repo}@{branch}' on "
                    f"'{trigger.branch}' would make {' -> '.join(path)}; trigger on a branch "
                    f"that does not follow '{branch}'"
                )
            entry = self.refs.head(repo, source)
            source = entry.trigger.branch if entry is not None and entry.trigger else None

    def inspect_branch(self, ref: str) -> BranchInfo:
        parsed = self._branch_ref(ref)
        assert parsed.base is not None
        return self._branch_info(self._head_entry(parsed.repo, parsed.base))

    def _branch_info(self, entry: BranchHead) -> BranchInfo:
        return BranchInfo(
            repo=entry.repo,
            name=entry.branch,
            head=entry.head,
            trigger=entry.trigger,
            created=entry.created,
            updated=entry.time,
            seq=entry.seq,
        )

    def list_branch(self, repo: str) -> list[BranchInfo]:
        """The repo's branches, newest first (as pachctl lists them)."""
        self._repo_record(repo)
        infos = []
        for name in self.refs.branches(repo):
            entry = self.refs.head(repo, name)
            if entry is not None:
                infos.append(self._branch_info(entry))
        return sorted(infos, key=lambda b: b.created, reverse=True)

    def delete_branch(self, ref: str) -> None:
        """Delete a branch (and its trigger); its commits stay readable by id."""
        parsed = self._branch_ref(ref)
        assert parsed.base is not None
        for attempt in range(_CAS_ATTEMPTS):
            current = self._head_entry(parsed.repo, parsed.base)
            deleted = self.refs.append(
                current,
                repo=parsed.repo,
                branch=parsed.base,
                head=current.head,
                reason="delete",
                trigger=None,
            )
            if deleted is not None:
                return
            self._backoff(attempt)
        raise Conflict(f"could not delete branch '{ref}': too many concurrent writers")

    def branch_log(self, repo: str, branch: str, after: int = -1) -> list[BranchHead]:
        """Ref-log entries of a branch after sequence number ``after``, oldest first."""
        self._repo_record(repo)
        validate_branch_name(branch)
        return self.refs.entries(repo, branch, after)

    def _fire_triggers(
        self,
        repo: str,
        moved: set[str],
        *,
        only: str | None = None,
        at: datetime | None = None,
    ) -> list[BranchHead]:
        """Evaluate the triggers whose source is in ``moved``, then those on each branch that
        fired, and so on down the chain; returns the entries written, in order.

        Each round evaluates the branches whose source moved in the round before, so a chain
        of N triggers fires in N rounds, one entry per move. Loops are refused when a trigger is
        set; the round limit only bounds a loop two racing writers could still make.
        ``only`` limits the first round to one branch (its trigger was just set).
        """
        fired: list[BranchHead] = []
        pending = set(moved)
        for round_ in range(_MAX_CHAIN):
            if not pending:
                break
            sources, pending = pending, set()
            for name in self._trigger_branches(repo):
                if only is not None and round_ == 0 and name != only:
                    continue
                entry = self.refs.head(repo, name)
                if entry is None or entry.trigger is None or entry.trigger.branch not in sources:
                    continue
                moved_entry = self._promote(repo, name, entry, at=at, custom=None)
                if moved_entry is not None:
                    fired.append(moved_entry)
                    pending.add(name)
        return fired

    def _trigger_branches(self, repo: str) -> list[str]:
        """Branches that may have a trigger: the repo's trigger index (one listing, usually
        empty) instead of reading every branch's head after each commit. Repos made before the
        index existed have every branch read, as before."""
        if self._repo_record(repo).get("triggers") == "indexed":
            names = self.backend.listdir(f"repos/{repo}/triggers")
            return [n for n in names if not n.startswith(".")]  # ".index": see create_repo
        return self.refs.branches(repo)

    def evaluate_trigger(
        self,
        repo: str,
        branch: str,
        *,
        entry: BranchHead | None = None,
        at: datetime | None = None,
        custom: Callable[[str], bool] | None = None,
    ) -> BranchHead | None:
        """Evaluate one branch's trigger now; if it fires, move the head (one ref-log entry).

        This is what the cron sensor calls between commits (``at`` is its clock, ``custom`` its
        evaluator of named conditions). A move here is a head move like any other: the
        triggers on ``branch`` are evaluated next, down the chain (at the same ``at``; a custom
        condition further down waits for its own sensor tick). Returns the branch's new
        entry, or ``None`` if the trigger did not fire; downstream moves are in their own logs.
        """
        current = entry or self._head_entry(repo, branch)
        moved = self._promote(repo, branch, current, at=at, custom=custom)
        if moved is not None:
            self._fire_triggers(repo, {branch}, at=at)
        return moved

    def _promote(
        self,
        repo: str,
        branch: str,
        entry: BranchHead | None,
        *,
        at: datetime | None,
        custom: Callable[[str], bool] | None,
    ) -> BranchHead | None:
        """Move ``branch`` to its trigger's source head if the trigger fires; one entry.

        The move is a compare-and-swap on the entry the decision was made on: a writer that
        moved the branch meanwhile makes us decide again on what it wrote, never overwrite it.
        """
        current = entry
        for attempt in range(_CAS_ATTEMPTS):
            if current is None or current.trigger is None:
                return None
            trigger = current.trigger
            source = self.refs.head(repo, trigger.branch)
            if source is None or source.head is None:
                return None  # a trigger may name a branch that does not exist (yet)
            source_head = self._commit(repo, source.head)
            target_head = self._commit(repo, current.head) if current.head else None
            moved_at = self._moved_at(current) if trigger.cron else None
            clock = at or now()
            if not should_fire(
                trigger,
                source_head,
                target_head,
                self.ancestors,
                clock,
                custom,
                target_moved=moved_at,
            ):
                return None
            written = self.refs.append(
                current,
                repo=repo,
                branch=branch,
                head=source_head.id,
                reason="trigger",
                trigger=trigger,
            )
            if written is not None:
                return written
            self._backoff(attempt)
            current = self.refs.head(repo, branch)
        return None

    def _moved_at(self, entry: BranchHead) -> datetime:
        """When the branch's head became ``entry.head``: the time of the newest entry that moved
        it, skipping entries that only set the trigger (what a cron condition counts from)."""
        current = entry
        for _ in range(_MAX_CHAIN):
            if current.moved or current.seq == 0:
                break
            previous = self.refs.read(entry.repo, entry.branch, current.seq - 1)
            if previous is None or not previous.exists or previous.head != entry.head:
                break
            current = previous
        return current.time
