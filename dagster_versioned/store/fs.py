"""``dv://repo@ref/path``: the store as an fsspec filesystem, for pandas, pyarrow and friends.

Paths are ``repo@ref/path`` where ``ref`` is anything ``dvctl`` accepts (a branch, a commit id,
``master^2``); ``repo/path`` means ``repo@master/path`` and pachctl's ``repo@ref:/path`` is
accepted too. The top level lists every ``repo@branch``. The storage comes from
``storage_options={"storage": url, **backend_options}``, else from the same default as dvctl
(:func:`~dagster_versioned.store.location.default_storage_url`).

Reads resolve the ref once per call, so a ``find``/``glob`` sees one commit even while the branch
moves. Writes go to branches only (a commit id or ``^N`` is read-only) and follow pachctl: outside
a transaction each closed file (or ``rm``) is one commit; inside ``with fs.transaction:`` every
write and delete becomes one commit per branch when the block ends (all sharing one commit id, a
global id), and nothing at all if the block raises. Paths are checked by ``normalize_path``, so
``..`` can never reach outside a commit, and repo names by ``parse_ref``, so no path reaches
outside the store.

Example::

    df = pd.read_csv("dv://images@master/a.csv", storage_options={"storage": "/data/store"})
    fs = fsspec.filesystem("dv", storage="/data/store")
    with fs.transaction:
        df.to_parquet("dv://tables@master/a.parquet", storage_options={"storage": "/data/store"})
"""

from __future__ import annotations

import shutil
import tempfile
from collections import deque
from typing import IO, Any

from fsspec.spec import AbstractBufferedFile, AbstractFileSystem, _Cached
from fsspec.transaction import Transaction
from fsspec.utils import stringify_path

from dagster_versioned.errors import InvalidRef, RepoNotFound
from dagster_versioned.store.chunks import ChunkReader
from dagster_versioned.store.commits import new_commit_id
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


class _Staged:
    """One write (``data`` set) or delete (``data`` is ``None``) waiting for its commit."""

    def __init__(
        self, repo: str, branch: str, path: str, data: IO[bytes] | None, *, append: bool = False
    ) -> None:
        self.repo, self.branch, self.path, self.data, self.append = repo, branch, path, data, append

    def staged(self) -> _Staged:
        return self

    def apply_alone(self, store: Store) -> None:
        ref = f"{self.repo}@{self.branch}:{self.path}"
        if self.data is None:
            store.delete_file(ref)
            return
        self.data.seek(0)
        store.put_file(ref, self.data, append=self.append)

    def discard(self) -> None:
        if self.data is not None:
            self.data.close()


class VersionedTransaction(Transaction):  # type: ignore[misc]
    """``with fs.transaction:`` — every write and delete inside lands as one commit per branch."""

    fs: Any
    files: deque[Any]

    def complete(self, commit: bool = True) -> None:
        fs: Any = self.fs
        pending: deque[Any] = self.files
        staged: list[_Staged] = []
        try:
            while pending:
                staged.append(pending.popleft().staged())
            if commit and staged:
                _commit_staged(fs.store, staged)
        finally:
            for item in staged:
                item.discard()
            while pending:
                pending.popleft().discard()
            fs._intrans = False
            fs._transaction = None
            self.fs = None


def _commit_staged(store: Store, staged: list[_Staged]) -> None:
    groups: dict[tuple[str, str], list[_Staged]] = {}
    for item in staged:
        groups.setdefault((item.repo, item.branch), []).append(item)
    commit_id = new_commit_id()
    for (repo, branch), items in groups.items():
        with store.commit(f"{repo}@{branch}", commit_id=commit_id, description="dv:// write") as c:
            for item in items:
                if item.data is None:
                    c.delete_file(item.path)
                else:
                    item.data.seek(0)
                    c.put_file(item.path, item.data, append=item.append)


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
        commit = self.store.inspect_commit(str(ref))
        info = self.store.inspect_file(f"{ref.repo}@{commit.id}:{inner}")
        return self._details(self._ref_text(path), info)

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        path = self._strip_protocol(path)
        if path == "":
            entries = self._branch_dirs()
        else:
            ref, inner = self._split(path)
            commit = self.store.inspect_commit(str(ref))
            infos = self.store.list_file(f"{ref.repo}@{commit.id}:{inner}")
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
            commit = self.store.inspect_commit(str(ref))
            pinned = f"{ref.repo}@{commit.id}:{inner}"
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
            commit = self.store.inspect_commit(str(ref))
            entry, _ = self.store.lookup_entry(f"{ref.repo}@{commit.id}:{inner}")
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
        try:
            self.store.inspect_repo(ref.repo)
        except RepoNotFound as e:
            raise RepoNotFound(ref.repo) from e
        return ref.branch

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        """Create the repo if it is missing; directories inside a commit need no creating."""
        ref, _ = self._split(path)
        try:
            self.store.inspect_repo(ref.repo)
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
        """Delete files (and directories with ``recursive``): one commit per path, or part of
        the transaction's commit."""
        for one in path if isinstance(path, list) else [path]:
            stripped = self._strip_protocol(one)
            ref, inner = self._split(stripped)
            branch = self._writable_branch(ref, stripped)
            if not recursive and self.info(stripped)["type"] == "directory":
                raise IsADirectoryError(f"dv://{stripped} is a directory; pass recursive=True")
            if self._intrans:
                self.transaction.files.append(_Staged(ref.repo, branch, inner, None))
            else:
                self.store.delete_file(f"{ref.repo}@{branch}:{inner}")


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

    def staged(self) -> _Staged:
        if not self.closed:
            self.close()
        return _Staged(self.repo, self.branch, self.inner, self._spool, append=self.mode == "ab")

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
