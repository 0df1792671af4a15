"""Branches: create (with an AUTO commit), move (``head=``), set triggers, list, delete.

Every change to a branch is one entry in its ref log (``refs.py``). Triggers are evaluated when
a commit finishes on their source branch, following chains in one evaluation, and every firing
is one ref-log entry, so downstream sees exactly one head move per firing.
"""

from __future__ import annotations

from typing import Any

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
                if trigger is not None:
                    self._fire_triggers(repo, {trigger.branch}, only=branch)
                if reason == "create" and target is None:  # its AUTO commit just finished
                    self._fire_triggers(repo, {branch})
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
        seen = {branch}
        source: str | None = trigger.branch
        while source is not None:
            if source in seen:
                raise InvalidTrigger("triggers cannot form a loop")
            seen.add(source)
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
        self, repo: str, moved: set[str], *, only: str | None = None
    ) -> list[BranchHead]:
        """Fire triggers whose source moved, following chains; returns the entries written."""
        fired: list[BranchHead] = []
        pending = set(moved)
        rounds = 0
        while pending and rounds < 64:
            rounds += 1
            source_moved, pending = pending, set()
            for name in self._trigger_branches(repo):
                if only is not None and rounds == 1 and name != only:
                    continue
                entry = self.refs.head(repo, name)
                if (
                    entry is None
                    or entry.trigger is None
                    or entry.trigger.branch not in source_moved
                ):
                    continue
                moved_entry = self.evaluate_trigger(repo, name, entry=entry)
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
        at: Any = None,
        custom: Any = None,
    ) -> BranchHead | None:
        """Evaluate one branch's trigger now; move its head if it fires (one ref-log entry)."""
        entry = entry or self._head_entry(repo, branch)
        trigger = entry.trigger
        if trigger is None:
            return None
        source = self.refs.head(repo, trigger.branch)
        if source is None or source.head is None:
            return None
        source_head = self._commit(repo, source.head)
        target_head = self._commit(repo, entry.head) if entry.head else None
        if not should_fire(trigger, source_head, target_head, self.ancestors, at or now(), custom):
            return None
        reason: Reason = "trigger"
        return self.refs.append(
            entry, repo=repo, branch=branch, head=source_head.id, reason=reason, trigger=trigger
        )
