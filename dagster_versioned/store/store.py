"""The store facade: every operation the CLI and the Dagster glue use, over one fsspec root.

Writes are ordered objects → tree nodes → commit record → ref-log entry. Only the last step
makes anything visible, and it is a single exclusive create, so a crash at any point leaves
every branch on either its old head or its new one, never on a partial commit.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
from collections.abc import Iterator
from typing import IO, Any, Literal

from dagster_versioned.errors import (
    AlreadyExists,
    BranchNotFound,
    CommitFinished,
    CommitNotFinished,
    CommitNotFound,
    Conflict,
    InvalidRef,
    InvalidTrigger,
    PathNotFound,
    RepoInUse,
    RepoNotFound,
    StorageError,
)
from dagster_versioned.store.backend import Backend, open_backend, redact_url
from dagster_versioned.store.commits import (
    Commit,
    CommitId,
    CommitRef,
    Origin,
    canonical_json,
    format_time,
    new_commit_id,
    now,
    parse_time,
)
from dagster_versioned.store.globs import compile_glob
from dagster_versioned.store.names import (
    Ref,
    is_commit_id,
    parse_ref,
    validate_branch_name,
    validate_repo_name,
)
from dagster_versioned.store.objects import ObjectStore
from dagster_versioned.store.records import BranchInfo, CommitSet, FileDiff, FileInfo, RepoInfo
from dagster_versioned.store.refs import BranchHead, Reason, RefLog
from dagster_versioned.store.transaction import CommitWriter, FileData, Op, fold_ops, require_entry
from dagster_versioned.store.trees import EMPTY_ROOT, Entry, TreeStore
from dagster_versioned.store.triggers import Trigger, should_fire

FORMAT_VERSION = 1
_CAS_ATTEMPTS = 200


class Store:
    """Versioned repos over one fsspec location. Open with ``Store.open(url)``."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.objects = ObjectStore(backend)
        self.trees = TreeStore(self.objects)
        self.refs = RefLog(backend)
        self._commits: dict[tuple[str, str], Commit] = {}

    @classmethod
    def open(cls, url: str, *, single_writer: bool = False, **storage_options: Any) -> Store:
        """Open (creating if needed) the store at ``url``: a path, ``s3://…``, ``memory://…``."""
        store = cls(open_backend(str(url), single_writer=single_writer, **storage_options))
        store._init_root()
        return store

    @property
    def url(self) -> str:
        return redact_url(self.backend.url)

    def _init_root(self) -> None:
        marker = self.backend.read_or_none("dagster_versioned.json")
        if marker is None:
            self.backend.create(
                "dagster_versioned.json", canonical_json({"format": FORMAT_VERSION})
            )
            return
        version = json.loads(marker).get("format")
        if version != FORMAT_VERSION:
            raise StorageError(
                f"store {self.url} has format {version}; this version reads format {FORMAT_VERSION}"
            )

    # -- repos -----------------------------------------------------------------------------

    def create_repo(self, name: str, description: str = "") -> RepoInfo:
        validate_repo_name(name)
        record = {"name": name, "created": format_time(now()), "description": description}
        if not self.backend.create(f"repos/{name}/repo.json", canonical_json(record)):
            raise AlreadyExists(f"repo '{name}' already exists")
        return self.inspect_repo(name)

    def _repo_record(self, name: str) -> dict[str, Any]:
        validate_repo_name(name)
        data = self.backend.read_or_none(f"repos/{name}/repo.json")
        if data is None:
            raise RepoNotFound(name)
        record: dict[str, Any] = json.loads(data)
        return record

    def inspect_repo(self, name: str) -> RepoInfo:
        record = self._repo_record(name)
        branches = tuple(b.name for b in self.list_branch(name))
        master = self.refs.head(name, "master")
        size = self._commit(name, master.head).size_bytes if master and master.head else 0
        created = parse_time(record["created"])
        assert created is not None
        return RepoInfo(
            name=name,
            created=created,
            description=record.get("description", ""),
            size_bytes=size,
            branches=branches,
        )

    def list_repo(self) -> list[RepoInfo]:
        infos = []
        for name in self.backend.listdir("repos"):
            with contextlib.suppress(RepoNotFound):
                infos.append(self.inspect_repo(name))
        return sorted(infos, key=lambda r: r.created, reverse=True)

    def delete_repo(self, name: str, *, force: bool = False) -> None:
        """Delete a repo; refused while another repo's commits have it in their provenance."""
        self._repo_record(name)
        users = [
            r
            for r in self.backend.listdir(f"repos/{name}/subvenance")
            if r != name and self.backend.exists(f"repos/{r}/repo.json")
        ]
        if users and not force:
            raise RepoInUse(
                f"repo '{name}' is in the provenance of {', '.join(sorted(users))}; "
                "delete those first or pass force"
            )
        self.backend.delete(f"repos/{name}/repo.json")
        self.backend.delete_tree(f"repos/{name}")
        self._commits = {k: v for k, v in self._commits.items() if k[0] != name}

    # -- branches --------------------------------------------------------------------------

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
        for _ in range(_CAS_ATTEMPTS):
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
            self._backoff()
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

    def _head_entry(self, repo: str, branch: str) -> BranchHead:
        self._repo_record(repo)
        entry = self.refs.head(repo, branch)
        if entry is None:
            raise BranchNotFound(repo, branch)
        return entry

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
        for _ in range(_CAS_ATTEMPTS):
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
            self._backoff()
        raise Conflict(f"could not delete branch '{ref}': too many concurrent writers")

    def branch_log(self, repo: str, branch: str, after: int = -1) -> list[BranchHead]:
        """Ref-log entries of a branch after sequence number ``after``, oldest first."""
        self._repo_record(repo)
        validate_branch_name(branch)
        return self.refs.entries(repo, branch, after)

    # -- commits ---------------------------------------------------------------------------

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
        writer = CommitWriter(self, parsed.repo, parsed.base, ops.append)
        started = now()
        yield writer
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
        for _ in range(_CAS_ATTEMPTS):
            current = self.refs.latest(repo, branch)
            parent = (
                self._commit(repo, current.head)
                if current and current.exists and current.head
                else None
            )
            base = parent.root if parent is not None else EMPTY_ROOT
            root = self.trees.apply(base, fold_ops(ops, self.trees, base))
            self.trees.flush()
            commit = template.with_tree(root)
            commit = Commit.from_json(
                {
                    **commit.to_json(),
                    "parent": parent.id if parent else None,
                    "finished": format_time(now()),
                }
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
            self._backoff()
        raise Conflict(f"could not commit to '{repo}@{branch}': too many concurrent writers")

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
        if not self.backend.create(f"repos/{repo}/open-branches/{branch}", cid.encode()):
            other = self._open_id(repo, branch)
            raise CommitNotFinished(
                f"branch '{repo}@{branch}' already has open commit {other}; finish it first"
            )
        self.backend.write(f"repos/{repo}/open-commits/{cid}.json", commit.to_bytes())
        return commit

    def _open_id(self, repo: str, branch: str) -> CommitId | None:
        data = self.backend.read_or_none(f"repos/{repo}/open-branches/{branch}")
        return CommitId(data.decode()) if data else None

    def _open_commit(self, repo: str, cid: CommitId) -> Commit | None:
        data = self.backend.read_or_none(f"repos/{repo}/open-commits/{cid}.json")
        return None if data is None else Commit.from_bytes(data, f"{repo}@{cid}")

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
        record = self._open_commit(repo, cid) if cid is not None else None
        if record is None:
            if cid is not None and self.backend.exists(self._commit_key(repo, cid)):
                raise CommitFinished(f"commit {repo}@{cid} is already finished")
            raise CommitFinished(f"'{ref}' has no open commit to finish")
        op_dir = f"repos/{repo}/open-commits/{record.id}"
        ops = [json.loads(self.backend.read(f"{op_dir}/{n}")) for n in self.backend.listdir(op_dir)]
        if description is not None:
            record = Commit.from_json({**record.to_json(), "description": description})
        commit = self._land(record, ops)
        self.backend.delete(f"repos/{repo}/open-branches/{record.branch}")
        self.backend.delete(f"repos/{repo}/open-commits/{record.id}.json")
        self.backend.delete_tree(op_dir)
        return commit

    def delete_commit(self, ref: str) -> None:
        """Abandon an open commit: its writes are dropped and the branch is unchanged."""
        parsed = self._parse(ref)
        if parsed.base is None:
            raise InvalidRef(f"invalid ref '{ref}': name a branch or commit")
        cid = CommitId(parsed.base) if parsed.is_commit else self._open_id(parsed.repo, parsed.base)
        record = self._open_commit(parsed.repo, cid) if cid else None
        if record is None:
            raise CommitFinished(f"'{ref}' is not an open commit; finished commits are immutable")
        self.backend.delete(f"repos/{parsed.repo}/open-branches/{record.branch}")
        self.backend.delete(f"repos/{parsed.repo}/open-commits/{record.id}.json")
        self.backend.delete_tree(f"repos/{parsed.repo}/open-commits/{record.id}")

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
            commits += self._open_commits(parsed.repo, None)
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
        return out

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
        """Block until the commit is finished; ``Conflict`` after ``timeout`` seconds."""
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

    def _commit_key(self, repo: str, cid: CommitId) -> str:
        return f"repos/{repo}/commits/{cid}.json"

    def _commit(self, repo: str, cid: CommitId) -> Commit:
        cached = self._commits.get((repo, cid))
        if cached is not None:
            return cached
        data = self.backend.read_or_none(self._commit_key(repo, cid))
        if data is None:
            raise CommitNotFound(f"{repo}@{cid}")
        commit = Commit.from_bytes(data, f"{repo}@{cid}")
        if len(self._commits) > 50_000:
            self._commits.clear()
        self._commits[(repo, cid)] = commit
        return commit

    def ancestors(self, commit: Commit) -> Iterator[Commit]:
        """The commit's parents, nearest first."""
        while commit.parent is not None:
            commit = self._commit(commit.repo, commit.parent)
            yield commit

    def _resolve(self, ref: Ref, *, allow_open: bool = False) -> Commit:
        if ref.base is None:
            raise InvalidRef(
                f"invalid ref '{ref}': name a branch or commit, like {ref.repo}@master"
            )
        self._repo_record(ref.repo)
        if ref.is_commit:
            cid = CommitId(ref.base)
            try:
                commit = self._commit(ref.repo, cid)
            except CommitNotFound:
                record = self._open_commit(ref.repo, cid)
                if record is None:
                    raise
                if not allow_open or ref.ancestors or ref.nth:
                    raise CommitNotFinished(f"commit {ref.repo}@{cid} is still open") from None
                return record
        else:
            entry = self._head_entry(ref.repo, ref.base)
            if entry.head is None:
                raise CommitNotFound(str(ref), f"branch '{ref.base}' has no head")
            commit = self._commit(ref.repo, entry.head)
        if ref.nth is not None:
            chain = [commit, *self.ancestors(commit)]
            if ref.nth > len(chain):
                raise CommitNotFound(str(ref), f"the branch has only {len(chain)} commits")
            return chain[-ref.nth]
        for i in range(ref.ancestors):
            if commit.parent is None:
                raise CommitNotFound(str(ref), f"it has only {i} ancestors")
            commit = self._commit(ref.repo, commit.parent)
        return commit

    # -- files -----------------------------------------------------------------------------

    def put_file(
        self, ref: str, data: FileData, *, append: bool = False, description: str = ""
    ) -> Commit | None:
        """Write one file (or a local directory) to ``repo@branch:/path``.

        Into the branch's open commit if it has one (returns ``None``); otherwise as a commit of
        its own, origin USER (returned). A missing branch is created.
        """
        parsed = self._parse(ref)
        if parsed.base is None or parsed.is_commit or parsed.ancestors or parsed.nth:
            raise InvalidRef(
                f"invalid ref '{ref}': write to a branch, like {parsed.repo}@master:/path"
            )
        if parsed.path is None:
            raise InvalidRef(
                f"invalid ref '{ref}': give a path after ':', "
                f"like {parsed.repo}@{parsed.base}:/file"
            )
        self._repo_record(parsed.repo)
        if self._open_id(parsed.repo, parsed.base) is not None:
            self.open_writer(ref).put_file(parsed.path, data, append=append)
            return None
        with self.commit(f"{parsed.repo}@{parsed.base}", description=description) as c:
            c.put_file(parsed.path, data, append=append)
        return c.landed

    def _writer_for(self, ref: str) -> tuple[Ref, CommitWriter | None]:
        parsed = self._parse(ref)
        if parsed.base is None or parsed.is_commit or parsed.path is None:
            raise InvalidRef(f"invalid ref '{ref}': expected repo@branch:/path")
        self._repo_record(parsed.repo)
        if self._open_id(parsed.repo, parsed.base) is not None:
            return parsed, self.open_writer(ref)
        return parsed, None

    def copy_file(self, src: str, dst: str) -> Commit | None:
        """Copy ``src`` (any commit, file or directory) to ``dst`` on a branch, by reference."""
        parsed, writer = self._writer_for(dst)
        assert parsed.path is not None
        if writer is not None:
            writer.copy_file(src, parsed.path)
            return None
        with self.commit(f"{parsed.repo}@{parsed.base}") as c:
            c.copy_file(src, parsed.path)
        return c.landed

    def delete_file(self, ref: str) -> Commit | None:
        """Delete a file or directory from a branch (into its open commit, if any)."""
        parsed, writer = self._writer_for(ref)
        assert parsed.path is not None
        self._lookup_entry(ref)
        if writer is not None:
            writer.delete_file(parsed.path)
            return None
        with self.commit(f"{parsed.repo}@{parsed.base}") as c:
            c.delete_file(parsed.path)
        return c.landed

    def _lookup_entry(self, ref: str) -> tuple[Entry, str]:
        parsed = self._parse(ref)
        path = parsed.path or "/"
        commit = self._resolve(parsed.without_path())
        entry = require_entry(
            self.trees.lookup(commit.root, path), path, str(parsed.without_path())
        )
        return entry, path

    def open_file(self, ref: str) -> IO[bytes]:
        """A stream of one file's bytes, read chunk by chunk."""
        entry, path = self._lookup_entry(ref)
        if entry.is_dir:
            raise PathNotFound(path, f"{ref} (it is a directory; use list_file)")
        import io

        return io.BufferedReader(self.objects.open_chunks(list(entry.chunks)), 1 << 20)

    def get_file(self, ref: str) -> bytes:
        with self.open_file(ref) as f:
            return f.read()

    def inspect_file(self, ref: str) -> FileInfo:
        parsed = self._parse(ref)
        commit = self._resolve(parsed.without_path())
        entry, path = self._lookup_entry(ref)
        return self._info(commit, path, entry)

    def _info(self, commit: Commit, path: str, entry: Entry) -> FileInfo:
        return FileInfo(
            path=path,
            type=entry.kind,
            size=entry.size,
            hash=entry.hash,
            commit=commit.id,
            repo=commit.repo,
        )

    def list_file(self, ref: str) -> list[FileInfo]:
        """The children of a directory (or the file itself), sorted by name."""
        parsed = self._parse(ref)
        commit = self._resolve(parsed.without_path())
        entry, path = self._lookup_entry(ref if parsed.path else f"{ref}:/")
        if not entry.is_dir:
            return [self._info(commit, path, entry)]
        prefix = "" if path == "/" else path
        return [self._info(commit, f"{prefix}/{n}", e) for n, e in self.trees.list_dir(entry)]

    def walk_file(self, ref: str) -> Iterator[FileInfo]:
        """Every file and directory below a path, depth first, sorted."""
        parsed = self._parse(ref)
        commit = self._resolve(parsed.without_path())
        entry, path = self._lookup_entry(ref if parsed.path else f"{ref}:/")
        if not entry.is_dir:
            yield self._info(commit, path, entry)
            return
        for p, e in self.trees.walk(entry, path):
            yield self._info(commit, p, e)

    def glob_file(self, ref: str) -> list[FileInfo]:
        """Files and directories matching a Pachyderm glob (``repo@ref:/*``), sorted by path."""
        parsed = self._parse(ref)
        pattern = compile_glob(ref.partition(":")[2] or "/")
        commit = self._resolve(parsed.without_path())
        if pattern.matches_root:
            return [self._info(commit, "/", commit.root)]
        prefix_entry = self.trees.lookup(commit.root, pattern.prefix)
        if prefix_entry is None:
            return []
        found: list[FileInfo] = []
        if pattern.prefix != "/" and pattern.match(pattern.prefix):
            found.append(self._info(commit, pattern.prefix, prefix_entry))
        depth = None if pattern.max_depth is None else pattern.max_depth - pattern.prefix_depth
        for p, e in self.trees.walk(prefix_entry, pattern.prefix, max_depth=depth):
            if pattern.match(p):
                found.append(self._info(commit, p, e))
        return found

    def diff_file(self, new: str, old: str | None = None) -> list[FileDiff]:
        """Files added, removed or changed from ``old`` (default: ``new``'s parent) to ``new``."""
        new_ref = self._parse(new)
        new_commit = self._resolve(new_ref.without_path())
        path = new_ref.path or "/"
        if old is not None:
            old_ref = self._parse(old)
            old_commit: Commit | None = self._resolve(old_ref.without_path())
            old_path = old_ref.path or path
        else:
            parent = new_commit.parent
            old_commit = self._commit(new_commit.repo, parent) if parent else None
            old_path = path
        new_entry = self.trees.lookup(new_commit.root, path)
        old_entry = self.trees.lookup(old_commit.root, old_path) if old_commit else None
        out = []
        for p, a, b in self.trees.diff(old_entry, new_entry, path):
            op: Literal["added", "removed", "changed"] = (
                "changed" if a is not None and b is not None else ("added" if b else "removed")
            )
            out.append(
                FileDiff(
                    path=p, op=op, old_size=a.size if a else None, new_size=b.size if b else None
                )
            )
        return out

    # -- triggers --------------------------------------------------------------------------

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
            for name in self.refs.branches(repo):
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

    # -- helpers ---------------------------------------------------------------------------

    def _parse(self, ref: str) -> Ref:
        return parse_ref(ref)

    def _branch_ref(self, ref: str) -> Ref:
        parsed = parse_ref(ref, allow_path=False)
        if parsed.base is None or parsed.is_commit or parsed.ancestors or parsed.nth:
            raise InvalidRef(f"invalid ref '{ref}': expected repo@branch")
        return parsed

    @staticmethod
    def _backoff() -> None:
        time.sleep(random.uniform(0.001, 0.02))
