"""The triggers engine: which branches move when a head moves, and on the clock.

The triggers on a branch are evaluated on every move of its head, whatever moved it: a landed
commit, a new branch's AUTO commit, a move by hand (``head=``, forward or back), a repair by
fsck, a trigger firing on a commit or on the clock (``evaluate_time``, what the Dagster cron
sensor calls). A branch a trigger moved is itself a source, so chains fire transitively in one
evaluation, and every firing is one ref-log entry: downstream sees exactly one head move per
firing. Whether one trigger fires is ``triggers.should_fire``, a pure function; this module
feeds it the commits and the clock, and writes the moves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from dagster_versioned.errors import BranchNotFound, InvalidTrigger, VersionedError
from dagster_versioned.store import layout
from dagster_versioned.store.backend import Backend
from dagster_versioned.store.commit_log import CommitLog
from dagster_versioned.store.commits import Commit, now
from dagster_versioned.store.refs import CAS_ATTEMPTS, BranchHead, RefLog
from dagster_versioned.store.repos import TRIGGERS_INDEXED, Repos
from dagster_versioned.store.revlog import race_backoff
from dagster_versioned.store.triggers import Trigger, should_fire

log = logging.getLogger("dagster_versioned")

MAX_CHAIN = 64
"""Rounds of one trigger evaluation (a chain longer than this is a loop), and how many entries
back ``moved_at`` looks for the one that moved the head."""

CustomCondition = Callable[[str, Commit, Commit | None], bool]
"""Evaluates a named custom condition: ``(name, source head, target head) -> holds``."""


class TriggerEngine:
    """Evaluates branch triggers and moves the branches whose trigger fires."""

    def __init__(self, backend: Backend, repos: Repos, refs: RefLog, commit_log: CommitLog) -> None:
        self.backend = backend
        self.repos = repos
        self.refs = refs
        self.commit_log = commit_log

    def index(self, repo: str, branch: str) -> None:
        """Add ``branch`` to the repo's trigger index; done before the entry naming the
        trigger is written, so a reader that finds the trigger finds the index entry."""
        self.backend.write(layout.trigger(repo, branch), b"")

    def check_loop(self, repo: str, branch: str, trigger: Trigger) -> None:
        """``InvalidTrigger`` if ``trigger`` on ``branch`` would close a loop of triggers."""
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

    def fire(
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
        for round_ in range(MAX_CHAIN):
            if not pending:
                break
            sources, pending = pending, set()
            for name in self.triggered_branches(repo):
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

    def triggered_branches(self, repo: str) -> list[str]:
        """Branches that may have a trigger: the repo's trigger index (one listing, usually
        empty) instead of reading every branch's head after each commit. Repos made before the
        index existed have every branch read, as before."""
        if self.repos.record(repo).get("triggers") == TRIGGERS_INDEXED:
            names = self.backend.listdir(layout.triggers_dir(repo))
            return [n for n in names if not n.startswith(".")]  # ".index": see Repos.create
        return self.refs.branches(repo)

    def evaluate(
        self,
        repo: str,
        branch: str,
        *,
        entry: BranchHead | None = None,
        at: datetime | None = None,
        custom: Callable[[str], bool] | None = None,
    ) -> BranchHead | None:
        """Evaluate one branch's trigger now; if it fires, move the head (one ref-log entry).

        A move here is a head move like any other: the triggers on ``branch`` are evaluated
        next, down the chain (at the same ``at``; a custom condition further down waits for its
        own evaluation). Returns the branch's new entry, or ``None`` if the trigger did not
        fire; downstream moves are in their own logs.
        """
        current = entry or self._head(repo, branch)
        moved = self._promote(repo, branch, current, at=at, custom=custom)
        if moved is not None:
            self.fire(repo, {branch}, at=at)
        return moved

    def evaluate_time(
        self, custom: CustomCondition | None = None, *, at: datetime | None = None
    ) -> list[BranchHead]:
        """Evaluate every trigger with a cron or custom condition, in every repo; the moves.

        Size and commit conditions only change when a head moves, and are evaluated then; a
        cron tick or a custom condition can come true between commits, so a scheduler calls
        this on its own tick. A branch whose evaluation fails (its source is gone, a custom
        condition raised a store error) is logged and skipped: one bad trigger must not stop
        the others.
        """
        fired: list[BranchHead] = []
        for repo in self.repos.names():
            try:
                names = self.triggered_branches(repo)
            except VersionedError:
                continue  # deleted while listing
            for name in names:
                entry = self.refs.head(repo, name)
                trig = entry.trigger if entry is not None else None
                if entry is None or trig is None or not (trig.cron or trig.condition):
                    continue
                try:
                    moved = self.evaluate(
                        repo, name, entry=entry, at=at, custom=self._custom(custom, repo, entry)
                    )
                except VersionedError as e:
                    log.warning("trigger on %s@%s: %s", repo, name, e)
                    continue
                if moved is not None:
                    fired.append(moved)
        return fired

    def _custom(
        self, custom: CustomCondition | None, repo: str, entry: BranchHead
    ) -> Callable[[str], bool] | None:
        if custom is None or entry.trigger is None:
            return None
        source_branch = entry.trigger.branch

        def holds(name: str) -> bool:
            source = self._head(repo, source_branch)
            if source.head is None:
                return False
            target = self.commit_log.get(repo, entry.head) if entry.head else None
            return custom(name, self.commit_log.get(repo, source.head), target)

        return holds

    def _head(self, repo: str, branch: str) -> BranchHead:
        self.repos.record(repo)
        entry = self.refs.head(repo, branch)
        if entry is None:
            raise BranchNotFound(repo, branch)
        return entry

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
        for attempt in range(CAS_ATTEMPTS):
            if current is None or current.trigger is None:
                return None
            trigger = current.trigger
            source = self.refs.head(repo, trigger.branch)
            if source is None or source.head is None:
                return None  # a trigger may name a branch that does not exist (yet)
            source_head = self.commit_log.get(repo, source.head)
            target_head = self.commit_log.get(repo, current.head) if current.head else None
            moved_at = self.moved_at(current) if trigger.cron else None
            if not should_fire(
                trigger,
                source_head,
                target_head,
                self.commit_log.ancestors,
                at or now(),
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
            race_backoff(attempt)
            current = self.refs.head(repo, branch)
        return None

    def moved_at(self, entry: BranchHead) -> datetime:
        """When the branch's head became ``entry.head``: the time of the newest entry that moved
        it, skipping entries that only set the trigger (what a cron condition counts from)."""
        current = entry
        for _ in range(MAX_CHAIN):
            if current.moved or current.seq == 0:
                break
            previous = self.refs.read(entry.repo, entry.branch, current.seq - 1)
            if previous is None or not previous.exists or previous.head != entry.head:
                break
            current = previous
        return current.time


__all__ = ["MAX_CHAIN", "CustomCondition", "TriggerEngine"]
