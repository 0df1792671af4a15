"""Progress of a whole-directory transfer (``put file -r``, ``get file -r``): files and bytes
done of the total, rate and time left, drawn by ``rich`` on stderr.

Only drawn when asked for (a terminal on stderr, no ``-q``): piped output and scripts see
exactly what they saw before, and ``rich`` is not even imported.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import IO, Any

_BLOCK = 1024 * 1024


def transfer_bar(*middle: Any, after: tuple[Any, ...] = ()) -> Any:
    """The one look of dvctl's transfer bars (a folder's and a single file's): label, bar,
    ``middle`` columns, bytes done of the total, rate, then ``after``; on stderr, unstyled under
    ``$NO_COLOR``, gone once finished."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    from dagster_versioned.cli.app import rich_console

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        *middle,
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        *after,
        console=rich_console(sys.stderr),
        transient=True,
    )


class TreeProgress:
    """One bar for many files: ``advance_bytes`` as data moves, ``file_done`` per file."""

    def __init__(self, label: str, files: int, total_bytes: int) -> None:
        from rich.progress import TextColumn, TimeRemainingColumn

        self.files = files
        self._progress = transfer_bar(
            TextColumn("{task.fields[done_files]}/{task.fields[files]} files"),
            after=(TimeRemainingColumn(),),
        )
        self._done_files = 0
        self._task = self._progress.add_task(
            label, total=max(total_bytes, 1), done_files=0, files=files
        )

    def __enter__(self) -> TreeProgress:
        self._progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.stop()

    def advance_bytes(self, n: int) -> None:
        self._progress.update(self._task, advance=n)

    def file_done(self) -> None:
        self._done_files += 1
        self._progress.update(self._task, done_files=self._done_files)

    def copy(self, src: IO[bytes], out: IO[bytes], size: int, label: str) -> None:
        """A checkout's ``copy``: stream one file, advancing the bar block by block."""
        del size, label
        while block := src.read(_BLOCK):
            out.write(block)
            self.advance_bytes(len(block))
        out.flush()
        self.file_done()


def tracked(paths: list[tuple[str, int]], progress: TreeProgress) -> Any:
    """``paths`` (relative path, size) as the path names an upload reads, advancing the bar
    by each file as the upload takes it."""
    for rel, size in paths:
        yield rel
        progress.advance_bytes(size)
        progress.file_done()
