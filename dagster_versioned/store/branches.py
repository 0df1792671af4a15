"""Branches: create (with an AUTO commit), move (``head=``), set triggers, list, delete.

Every change to a branch is one entry in its ref log (``refs.py``), written by compare-and-swap
on the entry it was decided on. A change that moves the head is handed to the triggers engine
(``trigger_engine.py``), like every other head move.
"""

from __future__ import annotations

from dataclasses import replace

from dagster_versioned.errors import CommitNotFinished, Conflict, InvalidRef
from dagster_versioned.store.commit_log import CommitLog
from dagster_versioned.store.commits import Commit, CommitId, Origin, new_commit_id, now
from dagster_versioned.store.names import parse_branch_ref, parse_rev_ref, validate_branch_name
from dagster_versioned.store.records import BranchInfo
from dagster_versioned.store.refs import CAS_ATTEMPTS, BranchHead, Reason, RefLog
from dagster_versioned.store.repos import Repos
from dagster_versioned.store.resolve import Resolver
from dagster_versioned.store.revlog import race_backoff
from dagster_versioned.store.trigger_engine import TriggerEngine
from dagster_versioned.store.triggers import Trigger


class Branches:
    """The branch operations of a store."""

    def __init__(
        self,
        repos: Repos,
        refs: RefLog,
        commit_log: CommitLog,
        resolver: Resolver,
        triggers: TriggerEngine,
    ) -> None:
        self.repos = repos
        self.refs = refs
        self.commit_log = commit_log
        self.resolver = resolver
        self.triggers = triggers

    def create(
        self, ref: str, *, head: str | None = None, trigger: Trigger | None = None
    ) -> BranchInfo:
        """Create a branch, or move its head (``head=`` any ref), or set its trigger.

        A new branch with no ``head`` gets an empty AUTO commit, like Pachyderm. Calling it
        again without ``trigger`` keeps the branch's trigger; delete the branch to clear it.
        """
        parsed = parse_branch_ref(ref)
        repo, branch = parsed.repo, parsed.branch
        self.repos.record(repo)
        target = self.resolver.resolve(parse_rev_ref(head)) if head is not None else None
        if target is not None and target.repo != repo:
            raise InvalidRef(f"head '{head}' is in repo '{target.repo}', not in '{repo}'")
        if target is not None and not target.is_finished:
            raise CommitNotFinished(f"head '{head}' is an open commit; finish it first")
        if trigger is not None:
            self.triggers.check_loop(repo, branch, trigger)
            self.triggers.index(repo, branch)
        for attempt in range(CAS_ATTEMPTS):
            current = self.refs.latest(repo, branch)
            live = current if current is not None and current.exists else None
            keep = trigger if trigger is not None else (live.trigger if live else None)
            new_head: CommitId | None
            reason: Reason
            if target is not None:
                new_head, reason = target.id, ("move" if live else "create")
            elif live is not None:
                if trigger is None or trigger == live.trigger:
                    return self.info(live)
                new_head, reason = live.head, "config"
            else:
                new_head, reason = self._auto_commit(repo, branch).id, "create"
            entry = self.refs.append(
                current, repo=repo, branch=branch, head=new_head, reason=reason, trigger=keep
            )
            if entry is not None:
                if entry.moved:  # a new head (also an AUTO commit or a move back): as a commit
                    self.triggers.fire(repo, {branch})
                if trigger is not None:  # a new trigger is checked at once, as in Pachyderm
                    self.triggers.fire(repo, {trigger.branch}, only=branch)
                return self.inspect(str(parsed))
            race_backoff(attempt)
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
        self.commit_log.write(commit)
        return commit

    def inspect(self, ref: str, *, open_head: bool = False) -> BranchInfo:
        """The branch; with ``open_head`` its head is its open commit when it has one (and a
        branch whose first commit is still open exists), as ``pachctl inspect branch`` shows."""
        parsed = parse_branch_ref(ref)
        repo, branch = parsed.repo, parsed.branch
        if open_head:
            opened = self.resolver.open_head(repo, branch)
            if opened is not None:
                return self._open_info(self.refs.head(repo, branch), opened)
        return self.info(self.resolver.head_entry(repo, branch))

    def _open_info(self, entry: BranchHead | None, opened: Commit) -> BranchInfo:
        """A branch as Pachyderm shows it while ``opened`` is open on it: that is its head.

        A branch with no ref-log entry yet (``start commit`` made it) has ``seq`` -1: its first
        entry, written when the commit finishes, is 0.
        """
        if entry is None:
            return BranchInfo(
                repo=opened.repo,
                name=opened.branch,
                head=opened.id,
                created=opened.started,
                updated=opened.started,
                seq=-1,
            )
        return replace(self.info(entry), head=opened.id, updated=max(entry.time, opened.started))

    @staticmethod
    def info(entry: BranchHead) -> BranchInfo:
        return BranchInfo(
            repo=entry.repo,
            name=entry.branch,
            head=entry.head,
            trigger=entry.trigger,
            created=entry.created,
            updated=entry.time,
            seq=entry.seq,
        )

    def infos(self, repo: str, *, open_heads: bool = False) -> list[BranchInfo]:
        """The repo's branches, newest first (as pachctl lists them); with ``open_heads`` a
        branch's open commit is its head, and a branch whose first commit is open is listed."""
        self.repos.record(repo)
        heads = self.refs.heads(repo)
        if not open_heads:
            return [self.info(h) for h in heads]
        entries: dict[str, BranchHead | None] = {h.branch: h for h in heads}
        open_names = set(self.commit_log.open_branches(repo))  # one listing, not a read each
        for name in sorted(open_names):
            entries.setdefault(name, None)
        out = []
        for name, entry in entries.items():
            opened = self.resolver.open_head(repo, name) if name in open_names else None
            if opened is not None:
                out.append(self._open_info(entry, opened))
            elif entry is not None:
                out.append(self.info(entry))
        return sorted(out, key=lambda b: b.created, reverse=True)

    def delete(self, ref: str) -> None:
        """Delete a branch (and its trigger); its commits stay readable by id."""
        parsed = parse_branch_ref(ref)
        for attempt in range(CAS_ATTEMPTS):
            current = self.resolver.head_entry(parsed.repo, parsed.branch)
            deleted = self.refs.append(
                current,
                repo=parsed.repo,
                branch=parsed.branch,
                head=current.head,
                reason="delete",
                trigger=None,
            )
            if deleted is not None:
                return
            race_backoff(attempt)
        raise Conflict(f"could not delete branch '{ref}': too many concurrent writers")

    def log(self, repo: str, branch: str, after: int = -1) -> list[BranchHead]:
        """Ref-log entries of a branch after sequence number ``after``, oldest first."""
        self.repos.record(repo)
        validate_branch_name(branch)
        return self.refs.entries(repo, branch, after)


__all__ = ["Branches"]
