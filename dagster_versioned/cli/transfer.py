"""Moving bytes between the user's machine and the store: put file sources, get file sinks.

Sources for ``put file -f`` are pachctl's: a local file, a local directory (with ``-r``), ``-``
for stdin, or a URL. URLs are read through fsspec, so ``http(s)://``, ``s3://`` and every other
fsspec protocol stream in chunks instead of being loaded whole. ``get file -r`` writes a tree
below one directory and checks every target, so no stored path (and no symlink already in
the destination) can make it write outside that directory.

Transfers over ``PROGRESS_MIN_BYTES`` show a ``rich`` progress bar on stderr, only when stderr
is a terminal.
"""

from __future__ import annotations

import os
import posixpath
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from dagster_versioned.cli.app import UserError, fail
from dagster_versioned.errors import InvalidPath, VersionedError
from dagster_versioned.store.checkout import inside

if TYPE_CHECKING:
    from dagster_versioned.store import CommitWriter, Store

PROGRESS_MIN_BYTES = 4 * 1024 * 1024
_BLOCK = 1024 * 1024


def progress_enabled(choice: bool | None) -> bool:
    """``--progress``/``--no-progress`` if given, else whether stderr is a terminal."""
    if choice is not None:
        return choice
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class ProgressReader:
    """A binary reader that draws a progress bar once a transfer proves large.

    With a known ``total`` the bar starts on the first read if ``total`` is large enough; with
    an unknown total (stdin, some URLs) it starts once ``PROGRESS_MIN_BYTES`` have been read.
    """

    def __init__(self, raw: IO[bytes], total: int | None, label: str, enabled: bool) -> None:
        self._raw = raw
        self._total = total
        self._label = label
        self._enabled = enabled
        self._done = 0
        self._progress: Any = None
        self._task: Any = None

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self._advance(len(data))
        return data

    def _advance(self, n: int) -> None:
        self._done += n
        if not self._enabled:
            return
        if self._progress is None:
            big = (self._total or self._done) >= PROGRESS_MIN_BYTES
            if not big:
                return
            self._start()
        self._progress.update(self._task, completed=self._done)

    def _start(self) -> None:
        from dagster_versioned.cli.progress import transfer_bar

        self._progress = transfer_bar()
        self._progress.start()
        self._task = self._progress.add_task(self._label, total=self._total)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def _reader(raw: IO[bytes], total: int | None, label: str, enabled: bool) -> ProgressReader:
    return ProgressReader(raw, total, label, enabled)


# -- put file ------------------------------------------------------------------------------


def is_url(source: str) -> bool:
    scheme, sep, _ = source.partition("://")
    return bool(sep) and scheme.replace("+", "").replace("-", "").replace(".", "").isalnum()


def source_basename(source: str) -> str:
    """The name pachctl gives a source put without a target path: its last path segment."""
    text = source.rstrip("/")
    if is_url(text):
        text = text.partition("://")[2].split("?", 1)[0].split("#", 1)[0]
    return posixpath.basename(text.replace(os.sep, "/")) or text


def target_for(source: str, path: str | None, n_sources: int, *, into_dir: bool = False) -> str:
    """Where one source lands: pachctl's rules for ``put file R@B[:PATH] -f SRC...``.

    No path: the source's base name at the root. One source and a path: the path itself.
    Several sources, or a path ending in ``/`` (``into_dir``): the base names below the path.
    """
    if path is None or n_sources > 1 or into_dir:
        if source == "-":
            fail("must specify filename when reading data from stdin")
        name = source_basename(source)
        return posixpath.join(path or "/", name)
    return path


def put_source(
    writer: CommitWriter,
    target: str,
    source: str,
    *,
    recursive: bool,
    append: bool,
    progress: bool,
    store: Store | None = None,
) -> None:
    """Write one ``-f`` source at ``target`` through ``writer`` (a commit being built); a
    directory put with ``progress`` uploads through ``store`` to draw its bar."""
    if source == "-":
        if recursive:
            fail("cannot set -r and read from stdin (must also set -f)")
        stdin = sys.stdin.buffer
        reader = _reader(stdin, None, "stdin", progress)
        try:
            writer.put_file(target, reader, append=append)  # type: ignore[arg-type]
        finally:
            reader.close()
        return
    if is_url(source):
        _put_url(writer, target, source, recursive=recursive, append=append, progress=progress)
        return
    _put_local(
        writer, target, source, recursive=recursive, append=append, progress=progress, store=store
    )


def _put_local(
    writer: CommitWriter,
    target: str,
    source: str,
    *,
    recursive: bool,
    append: bool,
    progress: bool,
    store: Store | None,
) -> None:
    local = Path(source)
    try:
        if local.is_dir():
            if not recursive:
                fail(f"'{source}' is a directory: use -r to put the files below it")
            if progress and store is not None and not append:  # append: put_file refuses
                _put_dir_with_progress(writer, store, target, local)
                return
            writer.put_file(target, local, append=append)
            return
        size = local.stat().st_size
        if not (progress and size >= PROGRESS_MIN_BYTES):
            writer.put_file(target, local, append=append)
            return
        with local.open("rb") as f:
            reader = _reader(f, size, local.name, progress)
            try:
                writer.put_file(target, reader, append=append)  # type: ignore[arg-type]
            finally:
                reader.close()
    except (VersionedError, UserError):
        raise
    except OSError as e:
        fail(f"cannot read '{source}': {e.strerror or e}")


def _put_dir_with_progress(writer: CommitWriter, store: Store, target: str, local: Path) -> None:
    """``put_file`` of a directory, with a bar of files and bytes: the same walk and upload
    (``store/upload.py``), each stored file placed by reference as it comes."""
    from dagster_versioned.cli.progress import TreeProgress, tracked
    from dagster_versioned.store.upload import walk_local

    files = [(rel, os.stat(full).st_size) for rel, full in walk_local(local)]
    prefix = target.rstrip("/")
    total = sum(size for _, size in files)
    with TreeProgress(local.name or str(local), len(files), total) as bar:
        for rel, entry in store.upload_files(local, tracked(files, bar)):
            writer.put_entry(f"{prefix}/{rel}", entry)


def _put_url(
    writer: CommitWriter, target: str, source: str, *, recursive: bool, append: bool, progress: bool
) -> None:
    try:
        import fsspec

        fs, root = fsspec.core.url_to_fs(source)
        if recursive and fs.isdir(root):
            base = root.rstrip("/")
            for path in sorted(fs.find(base)):
                rel = path[len(base) :].lstrip("/")
                with fs.open(path, "rb") as f:
                    writer.put_file(posixpath.join(target, rel), f, append=append)
            return
        size = _url_size(fs, root)
        with fs.open(root, "rb") as f:
            reader = _reader(f, size, source_basename(source), progress)
            try:
                writer.put_file(target, reader, append=append)  # type: ignore[arg-type]
            finally:
                reader.close()
    except (VersionedError, UserError):
        raise
    except FileNotFoundError:
        fail(f"cannot read '{source}': not found")
    except Exception as e:
        fail(f"cannot read '{source}': {type(e).__name__}: {e}")


def _url_size(fs: Any, path: str) -> int | None:
    try:
        size = fs.size(path)
    except Exception:
        return None
    return int(size) if size is not None else None


# -- get file ------------------------------------------------------------------------------


def copy_stream(src: IO[bytes], dst: IO[bytes], total: int, label: str, progress: bool) -> None:
    reader = _reader(src, total, label, progress)
    try:
        while True:
            block = reader.read(_BLOCK)
            if not block:
                break
            dst.write(block)
    finally:
        reader.close()
    dst.flush()


def safe_target(root: Path, rel: str) -> Path:
    """``root/rel`` for a stored relative path, refusing anything that would leave ``root``
    (by ``..`` or through a symlink in the destination: ``store/checkout.py``); a symlink at
    the target itself is removed, so the write replaces it instead of following it."""
    try:
        target = inside(root, rel)
    except InvalidPath as e:
        fail(str(e))
    if target.is_symlink():
        target.unlink()
    return target


def write_file(store: Store, ref: str, dest: Path, size: int, progress: bool) -> None:
    """Stream one stored file to a local path."""
    try:
        with store.open_file(ref) as src, open(dest, "wb") as out:
            copy_stream(src, out, size, dest.name, progress)
    except (VersionedError, UserError):
        raise
    except OSError as e:
        fail(f"cannot write '{dest}': {e.strerror or e}")


def write_tree(
    store: Store, repo: str, commit_id: str, base: str, dest: Path, progress: bool
) -> int:
    """Write every file below ``base`` of one commit into ``dest``; returns the file count."""
    ref = f"{repo}@{commit_id}:{base}"
    try:
        if not progress:
            return store.checkout(ref, dest, atomic=False).files
        from dagster_versioned.cli.progress import TreeProgress

        entry, _ = store.lookup_entry(ref)
        with TreeProgress(Path(base).name or repo, entry.files, entry.size) as bar:
            done = store.checkout(ref, dest, atomic=False, copy=bar.copy)
    except OSError as e:
        fail(f"cannot write below '{dest}': {e.strerror or e}")
    return done.files
