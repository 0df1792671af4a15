"""The snapshot's ``.gitignore`` matcher keeps exactly the files git keeps.

One table drives three tests: every row says which files git leaves untracked-and-not-ignored
(``git ls-files --others --exclude-standard``) for a ``.gitignore`` and a set of files. Our
walk must keep exactly those; ``pathspec`` (the library we judged ours against) must agree with
ours on every row except the ones listed in ``PATHSPEC_DEPARTS_FROM_GIT``, each with the reason;
and, where git is installed, git itself is asked again, so the table cannot drift from git.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from dagster_versioned.gridcore.ignore import IgnoreRules, walk_project

# (.gitignore lines, files in the project, the files git keeps). Rows were made by running git
# 2.x on each; the last test re-checks them.
TABLE: list[tuple[list[str], list[str], list[str]]] = [
    (
        ["*.log", "!keep.log"],
        ["a.log", "d/keep.log", "d/x.log", "keep.log"],
        ["d/keep.log", "keep.log"],
    ),
    (["build/"], ["build/a.txt", "build/f", "x/build/a.txt", "x/build/f"], []),
    (["build"], ["build/f", "x/build/a.txt"], []),
    (["/root.txt"], ["d/root.txt", "root.txt"], ["d/root.txt"]),
    (["/d/"], ["d/f", "d/x", "e/d/f", "e/d/x"], ["e/d/f", "e/d/x"]),
    (
        ["doc/*.txt"],
        ["doc/a.txt", "doc/sub/a.txt", "x/doc/a.txt"],
        ["doc/sub/a.txt", "x/doc/a.txt"],
    ),
    (["**/foo"], ["a/b/foo", "a/foo/x", "foo/f"], []),
    (["**/foo/bar"], ["a/foo/bar", "afoo/bar", "foo/bar"], ["afoo/bar"]),
    (["abc/**"], ["abc/f", "abc/x/y"], []),
    (["a/**/b"], ["a/b", "a/x/b", "a/x/y/b", "a/xb", "ab"], ["a/xb", "ab"]),
    (["a**b"], ["a/b", "ab", "axb", "x/ab"], ["a/b"]),
    (["**"], ["a/b", "a/f"], []),
    (["*"], ["a/b", "a/f"], []),
    (["a/*"], ["a/b/c", "a/f"], []),
    (["*.[oa]"], ["d/x.o", "x.a", "x.c", "x.o"], ["x.c"]),
    (["[!a]*"], ["a1", "b1", "d/a", "d/b"], ["a1"]),
    (["[a-c]x"], ["-x", "ax", "bx", "dx"], ["-x", "dx"]),
    (["[]]x"], ["]x", "ax"], ["ax"]),
    (["[!]]x"], ["]x", "ax"], ["]x"]),
    (["[\\]]x"], ["\\x", "]x", "ax"], ["\\x", "ax"]),
    (["x[a-]"], ["x-", "xa", "xb"], ["xb"]),
    (["\\#hash"], ["#hash", "hash"], ["hash"]),
    (["#comment"], ["#comment", "comment"], ["#comment", "comment"]),
    (["\\!bang"], ["!bang", "bang"], ["bang"]),
    (["trail   "], ["trail", "trail   "], ["trail   "]),
    (["trail\\ "], ["trail", "trail "], ["trail"]),
    (["trail\\ \\ "], ["trail", "trail ", "trail  "], ["trail", "trail "]),
    (["a\\ b"], ["a b", "a\\ b"], ["a\\ b"]),
    (["\\*star"], ["*star", "xstar"], ["xstar"]),
    (["q?"], ["d/qa", "q/f", "qa", "qab"], ["q/f", "qab"]),
    (["dir/", "!dir/keep"], ["dir/f", "dir/keep", "dir/other"], []),
    (["dir/*", "!dir/keep"], ["dir/f", "dir/keep", "dir/other"], ["dir/keep"]),
    (["*", "!*/", "!*.py"], ["a.py", "a.txt", "d/a.py", "d/a.txt", "d/f"], ["a.py", "d/a.py"]),
    (
        ["/*", "!/foo", "/foo/*", "!/foo/bar"],
        ["foo/bar/x", "foo/baz", "foo/f", "other"],
        ["foo/bar/x"],
    ),
    (["a/b/"], ["a/b/c", "a/b/f", "x/a/b/f"], ["x/a/b/f"]),
    (["foo/**/"], ["foo/a/b/f", "foo/a/f", "foo/f"], ["foo/f"]),
    (["*/"], ["a/b/f", "a/f"], []),
    (["!"], ["x"], ["x"]),
    (["/"], ["x"], ["x"]),
    (["\\"], ["x"], ["x"]),
    (["x\\"], ["x", "x\\"], ["x", "x\\"]),
    (["a[b"], ["a[b", "ab"], ["a[b", "ab"]),
    (["ä*"], ["ax", "äx"], ["ax"]),
    (["*.txt", "!/sub/*.txt"], ["a.txt", "sub/a.txt", "x/sub/a.txt"], ["sub/a.txt"]),
    (["data/", "!data/"], ["data/f", "data/x"], ["data/f", "data/x"]),
    (["  lead"], ["  lead", "lead"], ["lead"]),
    (["tab\t"], ["tab", "tab\t"], ["tab"]),
    (["***"], ["a/b"], []),
    (["a/**/**/b"], ["a/b", "a/x/b"], []),
    (["**/"], ["a/b/f", "a/f"], []),
    (["a/**b"], ["a/b", "a/x/b", "a/xb"], ["a/x/b"]),
    (["[[:alpha:]]z"], ["1z", "az"], ["1z"]),
    (["[a-z]*/"], ["ABC/f", "abc/f"], ["ABC/f"]),
    (["?"], ["a"], []),
    (["[!a-c]x"], ["-x", "ax", "dx"], ["ax"]),
    (["[[:digit:][:upper:]]q"], ["1q", "Aq", "aq"], ["aq"]),
    (["[[:digit:]-z]q"], ["-q", "1q", "yq", "zq"], ["yq"]),
    (["[[:x]q"], [":q", "[q", "q", "xq"], ["q"]),
    (["[[:foo:]]q"], ["fq", "q"], ["fq", "q"]),
    (["[a\\-c]y"], ["-y", "ay", "by", "cy"], ["by"]),
    (["[\\a-\\c]y"], ["ay", "by", "dy"], ["dy"]),
    (["[c-a]y"], ["ay", "by", "cy"], ["ay", "by"]),
    (["[a-]y"], ["-y", "ay", "by"], ["by"]),
    (["[^a]y"], ["ay", "by"], ["ay"]),
    (["[]-a]y"], ["]y", "^y", "ay", "by"], ["by"]),
    (["/a/**"], ["a/x", "a/y/z", "b/a/x"], ["b/a/x"]),
    (["a/**/"], ["a/f", "a/x/f"], ["a/f"]),
    (["foo//"], ["foo/f"], ["foo/f"]),
    (["   "], ["x"], ["x"]),
    (["x \\ "], ["x", "x ", "x  "], ["x", "x "]),
    (["\\ "], [" ", "x"], ["x"]),
    (["*.txt\\"], ["a.txt", "a.txt\\"], ["a.txt", "a.txt\\"]),
    (["?.c", "!b.c"], ["a.c", "ab.c", "b.c", "d/a.c"], ["ab.c", "b.c"]),
    (["d/", "!d/"], ["d/f"], ["d/f"]),
    (["/d/*", "!/d/k"], ["d/k", "d/x", "e/d/x"], ["d/k", "e/d/x"]),
    (["**/d/**/*.o"], ["d/a.c", "d/a.o", "dd/a.o", "x/d/y/a.o"], ["d/a.c", "dd/a.o"]),
    (["a*/b"], ["a/b", "ab/b", "ax/y/b"], ["ax/y/b"]),
    (["\\[x]"], ["[x]", "x"], ["x"]),
    (["*[/]x"], ["a/x", "ax"], ["a/x", "ax"]),
    (["#x", "\\#y"], ["#x", "#y", "y"], ["#x", "y"]),
    (["!x", "\\!y"], ["!x", "!y", "x"], ["!x", "x"]),
]

PATHSPEC_DEPARTS_FROM_GIT: dict[str, str] = {
    repr(["dir/", "!dir/keep"]): "pathspec decides each path alone, so it re-includes a file "
    "inside an ignored directory; git never enters that directory",
    repr(["foo/**/"]): "pathspec ignores files directly in foo/; git's 'foo/**/' names only the "
    "directories below foo",
    repr(["a/**/"]): "as 'foo/**/': pathspec ignores a/f, git keeps it",
    repr(["!"]): "pathspec raises on a lone '!', git ignores the line",
    repr(["\\"]): "pathspec raises on a lone backslash, git ignores the line",
    repr(["x\\"]): "pathspec raises on a trailing backslash, git ignores the line",
    repr(["*.txt\\"]): "pathspec raises on a trailing backslash, git ignores the line",
    repr(["tab\t"]): "pathspec strips a trailing tab; git strips trailing spaces only",
    repr(["[\\]]x"]): "pathspec reads '\\]' in a class as the end of the class; git as an "
    "escaped ']'",
    repr(["[[:alpha:]]z"]): "pathspec has no [:class:] names",
    repr(["[[:digit:][:upper:]]q"]): "pathspec has no [:class:] names",
    repr(["[[:digit:]-z]q"]): "pathspec has no [:class:] names",
    repr(["[a\\-c]y"]): "pathspec reads an escaped '-' in a class as a range",
    repr(["[\\a-\\c]y"]): "pathspec raises on escaped range ends (a bad regex), git accepts them",
    repr(["[c-a]y"]): "pathspec raises on a reversed range (a bad regex); git matches its first "
    "character only",
}
"""Rows where pathspec's ``GitIgnoreSpec`` answers differently from git, and how."""

ROWS = [pytest.param(lines, files, kept, id=repr(lines)) for lines, files, kept in TABLE]


def _project(root: Path, lines: list[str], files: list[str]) -> Path:
    root.mkdir()
    (root / ".gitignore").write_text("\n".join(lines) + "\n")
    for name in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x")
    return root


def _kept_by_ours(root: Path) -> list[str]:
    rules = IgnoreRules.from_project(root)
    return sorted(p for p in walk_project(root, rules, skip_names={".git"}) if p != ".gitignore")


@pytest.mark.parametrize(("lines", "files", "kept"), ROWS)
def test_a_snapshot_keeps_exactly_the_files_git_keeps(tmp_path, lines, files, kept):
    root = _project(tmp_path / "project", lines, files)

    assert _kept_by_ours(root) == kept


@pytest.mark.parametrize(("lines", "files", "kept"), ROWS)
def test_pathspec_agrees_with_ours_except_where_it_departs_from_git(tmp_path, lines, files, kept):
    pathspec = pytest.importorskip("pathspec")
    root = _project(tmp_path / "project", lines, files)
    try:
        spec = pathspec.GitIgnoreSpec.from_lines(lines)
        by_pathspec: list[str] | None = sorted(f for f in files if not spec.match_file(f))
    except Exception:  # pathspec raises several kinds of error on lines git accepts
        by_pathspec = None

    if repr(lines) in PATHSPEC_DEPARTS_FROM_GIT:
        assert by_pathspec != kept, "pathspec now agrees with git: drop the row from the list"
    else:
        assert by_pathspec == _kept_by_ours(root)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_the_table_is_what_git_itself_keeps(tmp_path):
    for n, (lines, files, kept) in enumerate(TABLE):
        root = _project(tmp_path / f"p{n}", lines, files)
        subprocess.run(["git", "init", "-q", str(root)], check=True)
        listed = subprocess.run(
            ["git", "-C", str(root), "ls-files", "--others", "--exclude-standard", "-z"],
            capture_output=True, check=True, text=True,
        ).stdout.split("\0")  # fmt: skip
        assert sorted(set(listed) - {"", ".gitignore"}) == kept, lines


def test_lines_split_on_newlines_only_and_a_byte_order_mark_is_skipped(tmp_path):
    root = tmp_path / "project"
    root.mkdir()
    (root / ".gitignore").write_bytes("\ufeff*.log\r\nform\x0cfeed\n".encode())
    rules = IgnoreRules.from_project(root)

    assert rules.ignored("a.log", False)  # the BOM and the CR are not part of the pattern
    assert rules.ignored("form\x0cfeed", False)
    assert not rules.ignored("feed", False)
