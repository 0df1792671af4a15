"""Human output like pachctl's: sizes, ages, progress bars and tables.

Sizes and durations reproduce docker/go-units (``BytesSize``, ``HumanDuration``), which pachctl
prints everywhere, so ``57.27KiB`` and ``About a minute ago`` read the same in both tools.
Tables follow pachctl's tabwriter (each column padded to its widest cell plus one space) when
stdout is not a terminal, so ``| grep`` and ``| awk`` work; on a terminal they are drawn with
``rich``, which is imported only then.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO

from dagster_versioned.units import bytes_size as bytes_size  # re-exported for the commands
from dagster_versioned.units import human_duration as human_duration

BAR_CHAR = "\u2587"  # ▇, pachctl's progress bar cell


def ago(when: datetime | None, now: datetime | None = None) -> str:
    """pachctl's ``pretty.Ago``: ``HumanDuration(since)`` + `` ago``; ``-`` for no time."""
    if when is None:
        return "-"
    current = now or datetime.now(UTC)
    return f"{human_duration((current - when).total_seconds())} ago"


@dataclass(frozen=True, slots=True)
class Colored:
    """A table cell drawn in a colour on a terminal, as plain text otherwise."""

    text: str
    color: str


Cell = str | Colored | Sequence[Colored]
"""Plain text, one coloured run, or several (a progress bar)."""


def progress_bar(width: int, green: int, yellow: int, red: int) -> list[Colored]:
    """pachctl's ``ProgressBar``: ``width`` cells of green, yellow and red, in proportion.

    If anything is red the last cell is red, so a partly failed set never looks all green.
    """
    total = green + yellow + red
    cells: list[Colored] = []
    for i in range(width):
        if i == width - 1 and red:
            cells.append(Colored(BAR_CHAR, "red"))
        elif i * total < green * width:
            cells.append(Colored(BAR_CHAR, "green"))
        elif i * total < (green + yellow) * width:
            cells.append(Colored(BAR_CHAR, "yellow"))
        elif i * total < total * width:
            cells.append(Colored(BAR_CHAR, "red"))
        else:
            cells.append(Colored(" ", ""))
    return cells


def plain(cell: Cell) -> str:
    if isinstance(cell, str):
        return cell
    if isinstance(cell, Colored):
        return cell.text
    return "".join(part.text for part in cell)


def render_plain(header: Sequence[str], rows: Sequence[Sequence[Cell]]) -> str:
    """Columns padded to the widest cell plus one space, like pachctl's tabwriter.

    Trailing spaces are dropped, so the last column never ends a line in blanks.
    """
    table = [list(header), *([plain(c) for c in row] for row in rows)]
    ncols = max(len(r) for r in table)
    widths = [max((len(r[i]) for r in table if i < len(r)), default=0) for i in range(ncols)]
    lines = []
    for row in table:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row)]
        lines.append(" ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def is_terminal(stream: IO[str] | None = None) -> bool:
    stream = stream if stream is not None else sys.stdout
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def print_table(
    header: Sequence[str],
    rows: Sequence[Sequence[Cell]],
    *,
    out: IO[str] | None = None,
    terminal: bool | None = None,
) -> None:
    """Print a table: rich on a terminal, tabwriter-style plain text otherwise."""
    stream = out if out is not None else sys.stdout
    if terminal is None:
        terminal = is_terminal(stream)
    if not terminal:
        stream.write(render_plain(header, rows))
        stream.flush()
        return
    _print_rich(header, rows, stream)


def _print_rich(header: Sequence[str], rows: Sequence[Sequence[Cell]], stream: IO[str]) -> None:
    from rich.table import Table
    from rich.text import Text

    from dagster_versioned.cli.app import rich_console  # NO_COLOR: no bold either

    table = Table(
        box=None, pad_edge=False, show_edge=False, header_style="bold", padding=(0, 1, 0, 0)
    )
    for name in header:
        table.add_column(name, no_wrap=True)
    for row in rows:
        texts = []
        for cell in row:
            if isinstance(cell, str):
                texts.append(Text(cell))
            elif isinstance(cell, Colored):
                texts.append(Text(cell.text, style=cell.color or ""))
            else:
                texts.append(Text.assemble(*((c.text, c.color or "") for c in cell)))
        table.add_row(*texts)
    # Never truncate an id to fit a narrow terminal: let long lines wrap, as pachctl's do.
    natural = max(len(line) for line in render_plain(header, rows).splitlines()) + 1
    console = rich_console(stream, highlight=False)
    console.width = max(console.width, natural)
    console.print(table)


def print_details(lines: Sequence[tuple[str, str]], out: IO[str] | None = None) -> None:
    """``Key: value`` lines, as pachctl's ``inspect`` commands print them."""
    stream = out if out is not None else sys.stdout
    stream.write("".join(f"{key}: {value}".rstrip() + "\n" for key, value in lines))
    stream.flush()
