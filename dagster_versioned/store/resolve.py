"""Ref resolution: ``repo@branch^N`` → one commit, ``repo@ref:/path`` → one tree entry.

Every read names its commit by a ref, so this is the one place that turns a ref into a commit:
a branch through its ref log, an id through the commit records (an open commit too, where the
caller allows it), then the ancestry suffix through parents.

A branch with an open commit has two heads worth naming. Pachyderm moves the branch to the
commit at ``StartCommit``, so ``inspect commit repo@master`` shows it open; but the IO manager,
sensors and jobs must read only finished data. The ref log therefore keeps pointing at the last
finished commit (nothing downstream fires for an open one), and a caller that wants Pachyderm's
view of the branch asks for it with ``open_head=True`` (``dvctl``'s reading commands do).
"""

from __future__ import annotations

from dataclasses import replace

from dagster_versioned.errors import BranchNotFound, CommitNotFinished, CommitNotFound, PathNotFound
from dagster_versioned.store.commit_log import CommitLog
from dagster_versioned.store.commits import Commit, CommitId
from dagster_versioned.store.names import FileRef, RevRef, parse_file_ref
from dagster_versioned.store.refs import BranchHead, RefLog
from dagster_versioned.store.repos import Repos
from dagster_versioned.store.trees import Entry, TreeStore


class Resolver:
    """Finds the commit a ref names and the entry a path names in it."""

    def __init__(self, repos: Repos, refs: RefLog, commit_log: CommitLog, trees: TreeStore) -> None:
        self.repos = repos
        self.refs = refs
        self.commit_log = commit_log
        self.trees = trees

    def head_entry(self, repo: str, branch: str) -> BranchHead:
        """The branch's newest ref-log entry; ``BranchNotFound`` if it does not exist."""
        self.repos.record(repo)
        entry = self.refs.head(repo, branch)
        if entry is None:
            raise BranchNotFound(repo, branch)
        return entry

    def open_head(self, repo: str, branch: str) -> Commit | None:
        """The branch's open commit as Pachyderm shows its head, or ``None`` if none is open.

        Its ``parent`` is the branch's finished head now, the commit it will be applied to when
        it finishes (the one recorded at start is stale once another commit landed meanwhile).
        """
        cid = self.commit_log.open_id(repo, branch)
        record = self.commit_log.open_record(repo, cid) if cid is not None else None
        if record is None:
            return None
        current = self.refs.head(repo, branch)
        return replace(record, parent=current.head if current is not None else None)

    def resolve(self, ref: RevRef, *, allow_open: bool = False, open_head: bool = False) -> Commit:
        """The commit ``ref`` names; an open one only with ``allow_open`` and no ancestry.

        ``open_head``: a branch names its open commit, if it has one, and ``^N``/``.N`` count
        from there (``master^1`` is then the finished head), as in Pachyderm.
        """
        self.repos.record(ref.repo)
        opened = self.open_head(ref.repo, ref.base) if open_head and not ref.is_commit else None
        if ref.is_commit:
            cid = CommitId(ref.base)
            try:
                commit = self.commit_log.get(ref.repo, cid)
            except CommitNotFound:
                record = self.commit_log.open_record(ref.repo, cid)
                if record is None:
                    raise
                if not allow_open or ref.has_ancestry:
                    raise CommitNotFinished(f"commit {ref.repo}@{cid} is still open") from None
                return record
        elif opened is not None:
            commit = opened
        else:
            entry = self.head_entry(ref.repo, ref.base)
            if entry.head is None:
                raise CommitNotFound(str(ref), f"branch '{ref.base}' has no head")
            commit = self.commit_log.get(ref.repo, entry.head)
        if ref.nth is not None:
            chain = [commit, *self.commit_log.ancestors(commit)]
            if ref.nth > len(chain):
                raise CommitNotFound(str(ref), f"the branch has only {len(chain)} commits")
            return chain[-ref.nth]
        for i in range(ref.ancestors):
            if commit.parent is None:
                raise CommitNotFound(str(ref), f"it has only {i} ancestors")
            commit = self.commit_log.get(ref.repo, commit.parent)
        return commit

    def history(self, ref: RevRef, *, number: int | None = None) -> list[Commit]:
        """The commit ``ref`` names with ``open_head`` (an open one by id too), then its
        ancestors, newest first: ``pachctl list commit repo@master^1`` starts at the branch's
        finished head when a commit is open on it, as ``inspect commit`` names it."""
        commit: Commit | None = self.resolve(ref, allow_open=True, open_head=True)
        out: list[Commit] = []
        while commit is not None and (number is None or len(out) < number):
            out.append(commit)
            commit = self.commit_log.get(ref.repo, commit.parent) if commit.parent else None
        return out

    def lookup(self, ref: FileRef) -> tuple[Commit, Entry]:
        """The commit and the entry at the ref's path; ``PathNotFound`` if nothing is there."""
        commit = self.resolve(ref.rev)
        entry = self.trees.lookup(commit.root, ref.path)
        if entry is None:
            raise PathNotFound(ref.path, str(ref.rev))
        return commit, entry

    def lookup_entry(self, ref: str) -> tuple[Entry, str]:
        """The entry at ``repo@ref[:/path]`` (``/`` without a path) and its path."""
        parsed = parse_file_ref(ref)
        return self.lookup(parsed)[1], parsed.path


__all__ = ["Resolver"]
