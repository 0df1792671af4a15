"""``$NO_COLOR`` (https://no-color.org): set to any value, dvctl prints no styling at all.

rich by itself drops only the colours under NO_COLOR and keeps bold headers, so these run dvctl
on a real pseudo-terminal (where it draws with rich) and look for any SGR escape
(``ESC [ … m``: colour, bold, dim, underline). Cursor movement of a live progress bar is not
styling and may stay.
"""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dagster_versioned.cli.app import cli, rich_console

SGR = re.compile(r"\x1b\[[0-9;]*m")
DVCTL = str(Path(sys.executable).with_name("dvctl"))


def on_a_terminal(args: list[str], cwd: Path, **env: str) -> str:
    """Run dvctl with stdin, stdout and stderr on a pseudo-terminal; return what it drew."""
    environ = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    environ.update({"COLUMNS": "120", "TERM": "xterm-256color", **env})
    environ["DAGSTER_VERSIONED_STORAGE"] = str(cwd / "store")
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [DVCTL, *args], stdin=follower, stdout=follower, stderr=follower, cwd=cwd, env=environ
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    assert proc.wait(timeout=60) == 0, b"".join(chunks).decode()
    return b"".join(chunks).decode()


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    subprocess.run(
        [DVCTL, "--storage", str(tmp_path / "store"), "create", "repo", "images"], check=True
    )
    return tmp_path


@pytest.mark.parametrize("value", ["1", "true", "0"])
def test_a_table_on_a_terminal_has_no_bold_header_with_no_color(
    store_dir: Path, value: str
) -> None:
    styled = on_a_terminal(["list", "repo"], store_dir)
    plain = on_a_terminal(["list", "repo"], store_dir, NO_COLOR=value)

    assert SGR.search(styled), "without NO_COLOR the header is bold (the test can see styling)"
    assert SGR.search(plain) is None
    assert plain.split()[:4] == ["NAME", "CREATED", "SIZE", "DESCRIPTION"]


def test_an_empty_no_color_is_unset_as_the_convention_says(store_dir: Path) -> None:
    assert SGR.search(on_a_terminal(["list", "repo"], store_dir, NO_COLOR=""))


def test_a_progress_bar_draws_without_colours_with_no_color(store_dir: Path) -> None:
    photos = store_dir / "photos"
    photos.mkdir()
    for i in range(3):
        (photos / f"{i}.jpg").write_bytes(b"x" * 1000)

    styled = on_a_terminal(["put", "file", "-r", "images@master:/a", "-f", "photos"], store_dir)
    plain = on_a_terminal(
        ["put", "file", "-r", "images@master:/b", "-f", "photos"], store_dir, NO_COLOR="1"
    )

    assert SGR.search(styled), "without NO_COLOR the bar is coloured"
    assert SGR.search(plain) is None


def test_click_strips_styling_in_every_command_context_with_no_color(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    with cli.make_context("dvctl", ["list", "repo"]) as ctx:
        assert ctx.color is False
        sub = cli.get_command(ctx, "list")
        assert sub is not None
        with sub.make_context("list", ["repo"], parent=ctx) as child:
            assert child.color is False
    monkeypatch.delenv("NO_COLOR")
    with cli.make_context("dvctl", ["list", "repo"]) as ctx:
        assert ctx.color is None  # click decides from the stream, as before


def test_rich_console_renders_no_styles_with_no_color(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    with (tmp_path / "out").open("w") as out:
        rich_console(out, force_terminal=True).print("[bold red]x[/] [dim]y[/]")
    assert (tmp_path / "out").read_text() == "x y\n"
