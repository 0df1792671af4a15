"""``dv://repo@ref/path``: the store as an fsspec filesystem, for pandas, pyarrow and friends.

Paths are ``repo@ref/path`` where ``ref`` is anything ``dvctl`` accepts (a branch, a commit id,
``master^2``); ``repo/path`` means ``repo@master/path`` and pachctl's ``repo@ref:/path`` is
accepted too. The top level lists every ``repo@branch``. The storage comes from
``storage_options={"storage": url, **backend_options}``, else from the same default as dvctl
(:func:`~dagster_versioned.store.location.default_storage_url`).

Reads resolve the ref once per call, so a ``find``/``glob`` sees one commit even while the branch
moves. Writes go to branches only (a commit id or ``^N`` is read-only) and follow pachctl: outside
a transaction each call is one commit per branch — a closed file, and a whole bulk call too
(``put`` of a tree, ``cp``, ``mv``, ``rm`` of many paths, ``pipe`` of a dict), so uploading
10,000 files makes one commit, not 10,000 — or goes into the branch's open commit if it has one;
inside ``with fs.transaction:`` every write and delete becomes one commit per branch when the
block ends (all sharing one commit id, a global id), and nothing at all if the block raises.
Copies are by reference (no file data is read or written), across repos too. A commit holds no
empty directories, so ``mkdir`` only ensures the repo. Paths are checked by ``normalize_path``, so
``..`` can never reach outside a commit, and repo names by ``parse_ref``, so no path reaches
outside the store.

Example::

    df = pd.read_csv("dv://images@master/a.csv", storage_options={"storage": "/data/store"})
    fs = fsspec.filesystem("dv", storage="/data/store")
    with fs.transaction:
        df.to_parquet("dv://tables@master/a.parquet", storage_options={"storage": "/data/store"})
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from fsspec.callbacks import DEFAULT_CALLBACK, Callback
from fsspec.spec import AbstractBufferedFile, AbstractFileSystem, _Cached
from fsspec.utils import stringify_path

from dagster_versioned.errors import InvalidRef, RepoNotFound
from dagster_versioned.store.chunks import ChunkReader
from dagster_versioned.store.fs_staging import Staged, VersionedTransaction
from dagster_versioned.store.location import default_storage_url
from dagster_versioned.store.names import Ref, parse_ref, path_segments
from dagster_versioned.store.records import FileInfo
from dagster_versioned.store.store import Store
from dagster_versioned.store.trees import Entry

_SPOOL_BYTES = 64 * 1024 * 1024
_DEFAULT_BRANCH = "master"


def split_dv_path(path: str) -> tuple[Ref, str]:
    """Split a stripped ``repo@ref/a/b`` into its ref (no path) and ``/a/b``, validating both."""
    head, _, rest = path.partition("/")
    parsed = parse_ref(f"{head}:/{rest}")
    assert parsed.path is not None
    return parsed.without_path(), parsed.path


class _DefaultStorage(_Cached):  # type: ignore[misc]
    """Resolve the default storage before fsspec's instance cache sees the arguments.

    Without this, ``fsspec.filesystem("dv")`` from two working directories would share one
    cached instance, and so one store, although the default differs between them.
    """

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if not args and kwargs.get("storage") is None:
            kwargs["storage"] = default_storage_url()
        # A dv instance holds the open transaction, so it is always shared (per thread, as
        # fsspec does); ``skip_instance_cache`` is meant for the backend (s3fs) and goes there.
        if "skip_instance_cache" in kwargs:
            kwargs["backend_skip_instance_cache"] = kwargs.pop("skip_instance_cache")
        return super().__call__(*args, **kwargs)


class VersionedFileSystem(AbstractFileSystem, metaclass=_DefaultStorage):  # type: ignore[misc]
    """fsspec filesystem ``dv://repo@ref/path`` over a :class:`Store` (see the module docstring)."""

    protocol = "dv"
    root_marker = ""
    transaction_type = VersionedTransaction

    def __init__(self, storage: str | None = None, **storage_options: Any) -> None:
        super().__init__(storage=storage, **storage_options)
        self.storage = storage or default_storage_url()
        options = dict(storage_options)
        if "backend_skip_instance_cache" in options:
            options["skip_instance_cache"] = options.pop("backend_skip_instance_cache")
        self.store = Store.open(self.storage, **options)

    # -- paths -----------------------------------------------------------------------------

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        text = str(stringify_path(path))
        for prefix in ("dv://", "dv::"):
            if text.startswith(prefix):
                text = text[len(prefix) :]
        text = text.strip("/")
        head, _, rest = text.partition("/")
        if ":" in head:  # pachctl's repo@ref:/path
            head, _, inner = head.partition(":")
            rest = "/".join(p for p in (inner.strip("/"), rest) if p)
        if head and "@" not in head:
            head = f"{head}@{_DEFAULT_BRANCH}"
        return f"{head}/{rest}" if rest else head

    _heads: dict[str, str] | None = None
    """During one bulk call (``_one_commit``): the commit each ref was resolved to, so the whole
    call reads one commit of each ref (and resolves a branch head once, not once per file)."""

    def _commit_id(self, ref: Ref) -> str:
        key = str(ref)
        if self._heads is not None and key in self._heads:
            return self._heads[key]
        commit_id = str(self.store.inspect_commit(key).id)
        if self._heads is not None:
            self._heads[key] = commit_id
        return commit_id

    def _split(self, path: str) -> tuple[Ref, str]:
        return split_dv_path(self._strip_protocol(path))

    def _name(self, ref: str, inner: str) -> str:
        return ref if inner == "/" else f"{ref}{inner}"

    def _ref_text(self, path: str) -> str:
        return str(self._strip_protocol(path)).partition("/")[0]

    # -- reading ---------------------------------------------------------------------------

    def _details(self, ref: str, info: FileInfo) -> dict[str, Any]:
        return {
            "name": self._name(ref, info.path),
            "size": info.size,
            "type": "file" if info.type == "file" else "directory",
            "hash": info.hash,
            "commit": info.commit,
        }

    def _branch_dirs(self) -> list[dict[str, Any]]:
        out = []
        for repo in self.store.list_repo():
            for branch in self.store.list_branch(repo.name):
                name = f"{repo.name}@{branch.name}"
                out.append({"name": name, "size": 0, "type": "directory", "commit": branch.head})
        return sorted(out, key=lambda d: d["name"])

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        path = self._strip_protocol(path)
        if path == "":
            return {"name": "", "size": 0, "type": "directory"}
        ref, inner = self._split(path)
        commit_id = self._commit_id(ref)
        info = self.store.inspect_file(f"{ref.repo}@{commit_id}:{inner}")
        return self._details(self._ref_text(path), info)

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        path = self._strip_protocol(path)
        if path == "":
            entries = self._branch_dirs()
        else:
            ref, inner = self._split(path)
            commit_id = self._commit_id(ref)
            infos = self.store.list_file(f"{ref.repo}@{commit_id}:{inner}")
            entries = [self._details(self._ref_text(path), i) for i in infos]
        return entries if detail else [e["name"] for e in entries]

    def find(
        self,
        path: str,
        maxdepth: int | None = None,
        withdirs: bool = False,
        detail: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Like fsspec's ``find``, from one snapshot of the ref (one tree walk, not one ``ls``
        per directory)."""
        path = self._strip_protocol(path)
        if path == "":
            return super().find(path, maxdepth=maxdepth, withdirs=withdirs, detail=detail)
        try:
            ref, inner = self._split(path)
            commit_id = self._commit_id(ref)
            pinned = f"{ref.repo}@{commit_id}:{inner}"
            root = self.store.inspect_file(pinned)
            infos = list(self.store.walk_file(pinned)) if root.type == "dir" else [root]
        except FileNotFoundError:
            return {} if detail else []
        base = len(path_segments(inner))
        out: dict[str, dict[str, Any]] = {}
        if withdirs and root.type == "dir":
            out[path] = self._details(self._ref_text(path), root)
        for info in infos:
            if maxdepth is not None and len(path_segments(info.path)) - base > maxdepth:
                continue
            if info.type == "file" or withdirs:
                details = self._details(self._ref_text(path), info)
                out[details["name"]] = details
        names = sorted(out)
        return {n: out[n] for n in names} if detail else names

    def cat_file(
        self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any
    ) -> bytes:
        if start is None and end is None:
            ref, inner = self._split(path)
            return self.store.get_file(f"{ref}:{inner}")
        data: bytes = super().cat_file(path, start=start, end=end, **kwargs)
        return data

    def _open(
        self,
        path: str,
        mode: str = "rb",
        block_size: Any = None,
        autocommit: bool = True,
        cache_options: Any = None,
        **kwargs: Any,
    ) -> AbstractBufferedFile:
        path = self._strip_protocol(path)
        ref, inner = self._split(path)
        if mode == "rb":
            commit_id = self._commit_id(ref)
            entry, _ = self.store.lookup_entry(f"{ref.repo}@{commit_id}:{inner}")
            if entry.is_dir:
                raise IsADirectoryError(f"dv://{path} is a directory")
            return _ReadFile(self, path, entry, block_size=block_size, cache_options=cache_options)
        branch = self._writable_branch(ref, path)
        if mode == "xb" and self.exists(path):
            raise FileExistsError(f"dv://{path} already exists")
        return _WriteFile(
            self, path, mode, block_size=block_size, autocommit=autocommit,
            target=(ref.repo, branch, inner),
        )  # fmt: skip

    # -- writing ---------------------------------------------------------------------------

    def _writable_branch(self, ref: Ref, path: str) -> str:
        if ref.branch is None or ref.ancestors or ref.nth is not None:
            raise InvalidRef(
                f"dv://{path} is read-only: write to a branch, like dv://{ref.repo}@master/…"
            )
        self._repo_record(ref.repo)
        return ref.branch

    def _repo_record(self, repo: str) -> None:
        """``RepoNotFound`` unless ``repo`` exists: its record only, cached briefly by the store
        (``inspect_repo`` would also read every branch head, once per file of a ``put``)."""
        self.store.repos.record(repo)

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        """Create the repo if it is missing; directories inside a commit need no creating."""
        ref, _ = self._split(path)
        try:
            self._repo_record(ref.repo)
        except RepoNotFound:
            self.store.create_repo(ref.repo)

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        self.mkdir(path)

    def rm_file(self, path: str) -> None:
        self.rm(path)

    def _rm(self, path: str) -> None:
        self.rm(path)

    def rm(
        self, path: str | list[str], recursive: bool = False, maxdepth: int | None = None
    ) -> None:
        """Delete files (and directories with ``recursive``): one commit for the call, or part
        of the transaction's commit."""
        with self._one_commit():
            for one in path if isinstance(path, list) else [path]:
                stripped = self._strip_protocol(one)
                ref, inner = self._split(stripped)
                branch = self._writable_branch(ref, stripped)
                if not recursive and self.info(stripped)["type"] == "directory":
                    raise IsADirectoryError(f"dv://{stripped} is a directory; pass recursive=True")
                self._stage(Staged(ref.repo, branch, inner))

    def cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        """Copy by reference, within a repo or across repos: the copy names the same stored
        chunks, so no file data is read or written.

        A directory is skipped: it exists through its files, which ``copy`` lists one by one
        (and a directory with no files cannot be in a commit).
        """
        src = self._strip_protocol(path1)
        ref, inner = self._split(src)
        commit_id = self._commit_id(ref)
        pinned = f"{ref.repo}@{commit_id}:{inner}"
        if self.store.inspect_file(pinned).type == "dir":
            return
        dst = self._strip_protocol(path2)
        dst_ref, dst_inner = self._split(dst)
        branch = self._writable_branch(dst_ref, dst)
        self._stage(Staged(dst_ref.repo, branch, dst_inner, source=pinned))

    def put_file(
        self, lpath: Any, rpath: Any, callback: Callback = DEFAULT_CALLBACK,
        mode: str = "overwrite", **kwargs: Any,
    ) -> None:  # fmt: skip
        """Within ``put``, the local file is read once, when its commit is made (not buffered
        first, which would hold a whole tree in memory until the commit)."""
        if not self._batch_puts or os.path.isdir(lpath):
            super().put_file(lpath, rpath, callback=callback, mode=mode, **kwargs)
            return
        rpath = self._strip_protocol(rpath)
        if mode == "create" and self.exists(rpath):
            raise FileExistsError(f"dv://{rpath} already exists")
        self.mkdirs(self._parent(rpath), exist_ok=True)
        ref, inner = self._split(rpath)
        branch = self._writable_branch(ref, rpath)
        self._stage(Staged(ref.repo, branch, inner, local=os.fspath(lpath)))
        callback.set_size(os.path.getsize(lpath))
        callback.relative_update(os.path.getsize(lpath))

    def put(self, lpath: Any, rpath: Any, recursive: bool = False, **kwargs: Any) -> None:
        """Upload files as one commit per branch (see the module docstring)."""
        with self._one_commit(local_puts=True):
            super().put(lpath, rpath, recursive=recursive, **kwargs)

    def copy(self, path1: Any, path2: Any, recursive: bool = False, **kwargs: Any) -> None:
        """Copy files by reference as one commit per branch (see ``cp_file``)."""
        with self._one_commit():
            super().copy(path1, path2, recursive=recursive, **kwargs)

    def mv(self, path1: Any, path2: Any, recursive: bool = False, **kwargs: Any) -> None:
        """Move as one commit: the copies and the delete of the sources land together."""
        with self._one_commit():
            super().mv(path1, path2, recursive=recursive, **kwargs)

    def pipe(self, path: Any, value: bytes | None = None, **kwargs: Any) -> None:
        """Write one file, or a ``{path: bytes}`` dict of them as one commit per branch."""
        with self._one_commit():
            super().pipe(path, value, **kwargs)

    _batch_puts = False
    """True while ``put`` runs in a commit of its own making (``put_file`` then stages paths)."""

    @contextmanager
    def _one_commit(self, *, local_puts: bool = False) -> Iterator[None]:
        """Make the block one commit per branch, unless a transaction is already open (then the
        block is part of it)."""
        if self._intrans:
            yield
            return
        self._batch_puts = local_puts
        self._heads = {}
        transaction = self.transaction
        transaction.into_open = True
        try:
            with transaction:
                yield
        finally:
            self._batch_puts = False
            self._heads = None

    def _stage(self, item: Staged) -> None:
        """Hold ``item`` for the open transaction's commit, or commit it now."""
        if self._intrans:
            self.transaction.files.append(item)
        else:
            item.apply_alone(self.store)


class _ReadFile(AbstractBufferedFile):  # type: ignore[misc]
    """A seekable reader over a file's chunks, fetching only the chunks a range touches."""

    def __init__(
        self, fs: VersionedFileSystem, path: str, entry: Entry, *, block_size: Any,
        cache_options: Any,
    ) -> None:  # fmt: skip
        self._reader: ChunkReader = fs.store.objects.open_chunks(list(entry.chunks), entry.size)
        super().__init__(
            fs, path, mode="rb", block_size=block_size, size=entry.size,
            cache_options=cache_options,
        )  # fmt: skip

    def _fetch_range(self, start: int, end: int) -> bytes:
        return self._reader.read_range(start, min(end, self.size))


class _WriteFile(AbstractBufferedFile):  # type: ignore[misc]
    """Buffers a file being written (spilling to disk past 64 MiB) until it is committed."""

    def __init__(
        self, fs: VersionedFileSystem, path: str, mode: str, *, block_size: Any,
        autocommit: bool, target: tuple[str, str, str],
    ) -> None:  # fmt: skip
        self._spool: IO[bytes] | None = None
        self.repo, self.branch, self.inner = target
        super().__init__(fs, path, mode=mode, block_size=block_size, autocommit=autocommit)

    def _initiate_upload(self) -> None:
        self._spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115

    def _upload_chunk(self, final: bool = False) -> bool:
        assert self._spool is not None
        self.buffer.seek(0)
        shutil.copyfileobj(self.buffer, self._spool)
        if final and self.autocommit:
            self.commit()
        return True

    def staged(self) -> Staged:
        if not self.closed:
            self.close()
        return Staged(self.repo, self.branch, self.inner, self._spool, append=self.mode == "ab")

    def commit(self) -> None:
        store: Store = self.fs.store
        try:
            self.staged().apply_alone(store)
        finally:
            self.discard()

    def discard(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None
