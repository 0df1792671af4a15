"""The store facade: every operation the CLI and the Dagster glue use, over one fsspec root.

Writes are ordered objects → tree nodes → commit record → ref-log entry. Only the last step
makes anything visible, and it is a single exclusive create, so a crash at any point leaves
every branch on either its old head or its new one, never on a partial commit.

``Store`` holds no logic of its own: each verb is a short delegation to the collaborator whose
one job it is (``repos``, ``branches``, ``commits``, ``files``, ``triggers``, over ``refs``,
``commit_log``, ``trees`` and ``objects``), so the verbs keep pachctl's names while each
concept lives, and is tested, in its own module.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from dagster_versioned.errors import CommitNotFound, StorageError, VersionedError
from dagster_versioned.store import layout
from dagster_versioned.store.backend import Backend
from dagster_versioned.store.branches import Branches
from dagster_versioned.store.checkout import CheckedOut, Copy, Skip, checkout_entry, export_entry
from dagster_versioned.store.commit_log import CommitLog
from dagster_versioned.store.commit_ops import Commits
from dagster_versioned.store.commits import Commit, CommitRef, Origin, canonical_json
from dagster_versioned.store.credentials import redact_url, scrub_credentials
from dagster_versioned.store.file_ops import Files
from dagster_versioned.store.names import parse_ref, parse_rev_ref
from dagster_versioned.store.objects import ObjectId, ObjectStore
from dagster_versioned.store.opening import open_backend
from dagster_versioned.store.records import (
    BranchInfo,
    CommitSet,
    FileDiff,
    FileInfo,
    RepoInfo,
)
from dagster_versioned.store.recordstore import RecordStore
from dagster_versioned.store.refs import BranchHead, RefLog
from dagster_versioned.store.repos import Repos
from dagster_versioned.store.resolve import Resolver
from dagster_versioned.store.transaction import CommitWriter, FileData
from dagster_versioned.store.trees import Entry, TreeStore
from dagster_versioned.store.trigger_engine import CustomCondition, TriggerEngine
from dagster_versioned.store.triggers import Trigger
from dagster_versioned.store.upload import upload_dir, upload_files, upload_outputs

FORMAT_VERSION = 1


class Store:
    """Versioned repos over one fsspec location. Open with ``Store.open(url)``.

    Example::

        store = Store.open("s3://bucket/prefix")
        store.create_repo("images")
        with store.commit("images@master", description="add") as c:
            c.put_file("/a.png", b"...")
    """

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.objects = ObjectStore(backend)
        self.trees = TreeStore(self.objects)
        self.refs = RefLog(backend)
        self.records = RecordStore(backend)
        """The engines' auxiliary records (jobs, plans, leases, grid jobs): ``recordstore.py``."""
        self.commit_log = CommitLog(backend)
        self.repos = Repos(backend, self.refs, self.commit_log)
        self.resolver = Resolver(self.repos, self.refs, self.commit_log, self.trees)
        self.triggers = TriggerEngine(backend, self.repos, self.refs, self.commit_log)
        self.branches = Branches(
            self.repos, self.refs, self.commit_log, self.resolver, self.triggers
        )
        self.commits = Commits(
            self.objects,
            self.trees,
            self.repos,
            self.refs,
            self.commit_log,
            self.resolver,
            self.triggers,
        )
        self.files = Files(
            self.objects, self.trees, self.repos, self.commit_log, self.resolver, self.commits
        )

    @classmethod
    def open(
        cls, url: str, *, single_writer: bool = False, create: bool = True, **storage_options: Any
    ) -> Store:
        """Open (creating if needed) the store at ``url``: a path, ``s3://…``, ``memory://…``.

        ``create=False`` raises ``StoreNotFound`` instead of creating a missing store.
        """
        backend = open_backend(
            str(url), single_writer=single_writer, create=create, **storage_options
        )
        store = cls(backend)
        try:
            store._init_root()
        except Exception as e:  # e.g. botocore quoting a bucket name with a secret in it
            if isinstance(e, VersionedError) and scrub_credentials(str(e), str(url)) == str(e):
                raise
            message = scrub_credentials(f"cannot open storage {store.url}: {e}", str(url))
            raise StorageError(message) from None  # the cause would quote the secret
        return store

    @property
    def url(self) -> str:
        return redact_url(self.backend.url)

    @property
    def local_root(self) -> Path | None:
        """The folder the store lives in when it is on local disk, else ``None`` (so a project
        snapshot can leave a store inside the project out)."""
        local = self.backend.local_path
        return None if local is None else Path(local)

    def _init_root(self) -> None:
        marker = self.backend.read_or_none(layout.ROOT_RECORD)
        if marker is None:
            try:
                self.backend.create(layout.ROOT_RECORD, canonical_json({"format": FORMAT_VERSION}))
            except FileNotFoundError as e:  # e.g. an S3 bucket that does not exist
                raise StorageError(
                    f"cannot open storage {self.url}: {e or 'its location does not exist'} "
                    "(create the bucket or directory first)"
                ) from e
            return
        version = json.loads(marker).get("format")
        if version != FORMAT_VERSION:
            raise StorageError(
                f"store {self.url} has format {version}; this version reads format {FORMAT_VERSION}"
            )

    # -- repos (repos.py) ------------------------------------------------------------------

    def create_repo(self, name: str, description: str = "") -> RepoInfo:
        return self.repos.create(name, description)

    def inspect_repo(self, name: str) -> RepoInfo:
        return self.repos.inspect(name)

    def list_repo(self) -> list[RepoInfo]:
        return self.repos.infos()

    def delete_repo(self, name: str, *, force: bool = False) -> None:
        """Delete a repo; refused while another repo's commits have it in their provenance."""
        self.repos.delete(name, force=force)

    # -- branches (branches.py) and triggers (trigger_engine.py) ---------------------------

    def create_branch(
        self, ref: str, *, head: str | None = None, trigger: Trigger | None = None
    ) -> BranchInfo:
        """Create a branch, or move its head (``head=`` any ref), or set its trigger."""
        return self.branches.create(ref, head=head, trigger=trigger)

    def inspect_branch(self, ref: str, *, open_head: bool = False) -> BranchInfo:
        """The branch. Its head is its last finished commit, what sensors and jobs act on;
        ``open_head=True`` shows its open commit as the head instead, as pachctl does."""
        return self.branches.inspect(ref, open_head=open_head)

    def list_branch(self, repo: str, *, open_heads: bool = False) -> list[BranchInfo]:
        """The repo's branches, newest first (as pachctl lists them); ``open_heads=True``: a
        branch's open commit is its head, and a branch made by ``start_commit`` is listed."""
        return self.branches.infos(repo, open_heads=open_heads)

    def delete_branch(self, ref: str) -> None:
        """Delete a branch (and its trigger); its commits stay readable by id."""
        self.branches.delete(ref)

    def branch_log(self, repo: str, branch: str, after: int = -1) -> list[BranchHead]:
        """Ref-log entries of a branch after sequence number ``after``, oldest first."""
        return self.branches.log(repo, branch, after)

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
        ``custom(name) -> bool`` evaluates a named custom condition."""
        return self.triggers.evaluate(repo, branch, entry=entry, at=at, custom=custom)

    def evaluate_time_triggers(
        self, custom: CustomCondition | None = None, *, at: datetime | None = None
    ) -> list[BranchHead]:
        """Evaluate every cron and custom trigger of every repo (a scheduler's tick)."""
        return self.triggers.evaluate_time(custom, at=at)

    # -- commits (commit_ops.py) -----------------------------------------------------------

    def commit(
        self,
        ref: str,
        *,
        description: str = "",
        commit_id: str | None = None,
        provenance: tuple[CommitRef, ...] = (),
        origin: Origin = Origin.USER,
    ) -> AbstractContextManager[CommitWriter]:
        """Write one commit: start, put/copy/delete, finish; nothing is visible before the end."""
        return self.commits.commit(
            ref, description=description, commit_id=commit_id, provenance=provenance, origin=origin
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
        """Open a commit on a branch that any process can write into until it is finished."""
        return self.commits.start(
            ref, description=description, commit_id=commit_id, provenance=provenance, origin=origin
        )

    def open_writer(self, ref: str) -> CommitWriter:
        """A writer into the branch's open commit (ops stored, so every process shares them)."""
        return self.commits.open_writer(ref)

    def finish_commit(self, ref: str, *, description: str | None = None) -> Commit:
        """Finish the open commit named by ``repo@branch`` or ``repo@<id>``."""
        return self.commits.finish(ref, description=description)

    def delete_commit(self, ref: str) -> None:
        """Abandon an open commit: its writes are dropped and the branch is unchanged."""
        self.commits.delete(ref)

    def inspect_commit(self, ref: str, *, open_head: bool = False) -> Commit:
        """The commit ``ref`` names (an open one by its id). A branch names its last finished
        commit, what jobs and the IO manager read; ``open_head=True``: its open commit, if it
        has one, as ``pachctl inspect commit repo@branch`` shows (``resolve.py``)."""
        return self.resolver.resolve(parse_rev_ref(ref), allow_open=True, open_head=open_head)

    def list_commit(
        self, ref: str, *, number: int | None = None, open_head: bool = False
    ) -> list[Commit]:
        """Commits of ``repo@branch`` (its history, newest first) or of a whole ``repo``.

        ``open_head=True``: the history of ``repo@ref`` starts at the commit
        ``inspect_commit(ref, open_head=True)`` names, so ``master^1`` is the finished head
        while a commit is open on master (``resolve.py``), as in pachctl.
        """
        rev = parse_ref(ref).rev
        if open_head and rev is not None:
            return self.resolver.history(rev, number=number)
        return self.commits.history(ref, number=number)

    def list_commit_set(self, commit_id: str) -> list[Commit]:
        """Every commit with this global id, across all repos."""
        return self.commits.list_set(commit_id)

    def list_commit_sets(self, *, number: int | None = None) -> list[CommitSet]:
        """Global commit sets, newest first (``dvctl list commit`` with no repo)."""
        return self.commits.list_sets(number=number)

    def wait_commit(
        self, ref: str, *, timeout: float | None = None, open_head: bool = False
    ) -> Commit:
        """Block until the commit is finished; ``CommitNotFinished`` after ``timeout`` seconds.

        ``open_head=True``: a branch with an open commit waits for that commit, as
        ``pachctl wait commit repo@branch`` does (without it a branch names its last finished
        head, returned at once). The commit is pinned by id first: once it lands the branch
        may already name a newer one. ``CommitNotFound`` if it is deleted before it finishes.
        """
        if not open_head:
            return self.commits.wait(ref, timeout=timeout)
        pinned = self.inspect_commit(ref, open_head=True)
        try:
            return self.commits.wait(f"{pinned.repo}@{pinned.id}", timeout=timeout)
        except CommitNotFound:
            raise CommitNotFound(
                f"{pinned.repo}@{pinned.id}", "it was deleted before it finished"
            ) from None

    def ancestors(self, commit: Commit) -> Iterator[Commit]:
        """The commit's parents, nearest first."""
        return self.commit_log.ancestors(commit)

    # -- files (file_ops.py) ---------------------------------------------------------------

    def put_file(
        self, ref: str, data: FileData, *, append: bool = False, description: str = ""
    ) -> Commit | None:
        """Write one file (or a local directory) to ``repo@branch:/path``: into the branch's
        open commit (``None``), else as a commit of its own (returned)."""
        return self.files.put(ref, data, append=append, description=description)

    def copy_file(self, src: str, dst: str) -> Commit | None:
        """Copy ``src`` (any commit, file or directory) to ``dst`` on a branch, by reference."""
        return self.files.copy(src, dst)

    def delete_file(self, ref: str) -> Commit | None:
        """Delete a file or directory from a branch (into its open commit, if any)."""
        return self.files.delete(ref)

    def open_file(self, ref: str) -> IO[bytes]:
        """A stream of one file's bytes, read chunk by chunk."""
        return self.files.open(ref)

    def get_file_to(self, ref: str, dest: str | os.PathLike[str]) -> int:
        """Write one file to the local path ``dest`` (kernel copies on local disk); its size."""
        return self.files.get_to(ref, dest)

    def get_file(self, ref: str) -> bytes:
        return self.files.get(ref)

    def inspect_file(self, ref: str) -> FileInfo:
        return self.files.inspect(ref)

    def list_file(self, ref: str) -> list[FileInfo]:
        """The children of a directory (or the file itself), sorted by name."""
        return self.files.list_dir(ref)

    def walk_file(self, ref: str) -> Iterator[FileInfo]:
        """Every file and directory below a path, depth first, sorted."""
        return self.files.walk(ref)

    def glob_file(self, ref: str) -> list[FileInfo]:
        """Files and directories matching a Pachyderm glob (``repo@ref:/*``), sorted by path."""
        return self.files.glob(ref)

    def glob_entries(self, ref: str) -> tuple[Commit, list[tuple[str, Entry]]]:
        """The commit and the (path, tree entry) pairs a glob matches: what datums are made of."""
        return self.files.glob_entries(ref)

    def diff_file(self, new: str, old: str | None = None) -> list[FileDiff]:
        """Files added, removed or changed from ``old`` (default: ``new``'s parent) to ``new``."""
        return self.files.diff(new, old)

    def lookup_entry(self, ref: str) -> tuple[Entry, str]:
        """The tree entry at ``repo@ref[:/path]`` and its path (``resolve.py``)."""
        return self.resolver.lookup_entry(ref)

    def checkout(
        self,
        ref: str,
        dest: str | os.PathLike[str],
        *,
        atomic: bool = True,
        skip: Skip | None = None,
        read_only: bool = False,
        copy: Copy | None = None,
    ) -> CheckedOut:
        """Write the file or directory at ``ref`` (``repo@branch:/path``) to ``dest`` on local
        disk: atomically beside it and renamed into place, or into it (``checkout.py``)."""
        entry, _ = self.resolver.lookup_entry(ref)
        return self.checkout_entry(
            entry, dest, atomic=atomic, skip=skip, read_only=read_only, copy=copy
        )

    def checkout_entry(
        self,
        entry: Entry,
        dest: str | os.PathLike[str],
        *,
        atomic: bool = True,
        skip: Skip | None = None,
        read_only: bool = False,
        empty_files: bool = False,
        copy: Copy | None = None,
    ) -> CheckedOut:
        """``checkout`` of an entry already looked up (a datum's input)."""
        return checkout_entry(
            self.objects,
            self.trees,
            entry,
            dest,
            atomic=atomic,
            skip=skip,
            read_only=read_only,
            empty_files=empty_files,
            copy=copy,
        )

    def upload(
        self, local_dir: str | os.PathLike[str], *, allowed: Iterable[Path] = ()
    ) -> Iterator[tuple[str, Entry]]:
        """Store every file below ``local_dir`` (``upload.py``: one symlink rule, small files
        in packs); yields ``(relative path, file entry)`` to place in a commit."""
        return upload_dir(self.objects, local_dir, allowed=allowed)

    def upload_files(self, root: Path, paths: Iterable[str]) -> Iterator[tuple[str, Entry]]:
        """Store the files at ``paths`` below ``root``, chosen by the caller's own walk."""
        return upload_files(self.objects, root, paths)

    def upload_outputs(
        self,
        root: Path,
        *,
        inputs: Mapping[str, Entry],
        allowed: Iterable[Path] = (),
        mounted: tuple[str, Path] | None = None,
    ) -> Iterator[tuple[str, Entry]]:
        """Store a datum's output folder: links to its input files by reference, links into
        ``root`` by content, any other link refused (``upload.py``, ``LinkOutside``)."""
        return upload_outputs(self.objects, root, inputs=inputs, allowed=allowed, mounted=mounted)

    def objects_exist(self, ids: Iterable[ObjectId]) -> list[bool]:
        """Whether each object is stored (asked concurrently): a skipped datum's outputs are
        reused only if every chunk they name is still there."""
        return self.objects.exists_many(list(ids))

    def export(self, ref: str, url: str) -> int:
        """Copy the file or directory at ``ref`` to an fsspec URL; returns the files written."""
        entry, path = self.resolver.lookup_entry(ref)
        return export_entry(self.objects, self.trees, entry, url, path=path)
