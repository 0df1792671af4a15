"""Where a ``transform.cmd`` sees ``/pfs``: a private mount namespace, or rewritten paths.

Pachyderm's user code runs in a container whose ``/pfs/<input>`` and ``/pfs/out`` are real
directories, so a script may hard-code them (its ``edges.py`` walks ``/pfs/images``). To run
such code unchanged, each datum's command runs in a private mount namespace where the datum's
scratch ``pfs`` folder is bind-mounted at ``/pfs``; the host needs no ``/pfs`` (the namespace gets
a fresh root made of bind mounts of the host's top-level entries, plus ``/pfs``).

``DAGSTER_VERSIONED_PFS`` chooses: ``namespace`` (fail when none can be made), ``bwrap`` or
``unshare`` (that tool only), ``rewrite`` (rewrite ``/pfs`` words in ``cmd`` and ``stdin`` only)
or ``auto`` (the default: a namespace when the machine allows one — ``bwrap`` on PATH, else
``unshare -Urm`` — rewriting otherwise).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from dagster_versioned.errors import VersionedError

ENV_VAR = "DAGSTER_VERSIONED_PFS"
SETTINGS = ("auto", "namespace", "bwrap", "unshare", "rewrite")
PFS_WORD = re.compile(r"(?<![\w./-])/pfs(?![\w.-])")
"""``/pfs`` as a path word: followed by ``/``, a space, ``;``, ``)``, a quote, the end..."""

_UNSHARE_ENTER = r"""set -e
r=$1; p=$2; d=$3; shift 3
mount -t tmpfs dv-root "$r"
for e in /* /.[!.]*; do
  [ -e "$e" ] || [ -L "$e" ] || continue
  n=${e#/}
  [ "$n" = pfs ] && continue
  if [ -L "$e" ]; then ln -s "$(readlink "$e")" "$r/$n"
  elif [ -d "$e" ]; then mkdir "$r/$n"; mount --rbind "$e" "$r/$n"
  else : > "$r/$n"; mount --bind "$e" "$r/$n"; fi
done
mkdir "$r/pfs"; mount --bind "$p" "$r/pfs"
exec chroot "$r" /bin/sh -c 'cd "$0" && exec "$@"' "$d" "$@"
"""
"""Runs inside ``unshare -Urm``: a tmpfs root holding bind mounts of ``/``'s entries and the
datum's folder at ``/pfs``, then ``chroot`` into it — what ``bwrap`` does, with util-linux."""


class PfsModeUnavailable(VersionedError):
    def __init__(self, setting: str, why: str) -> None:
        super().__init__(
            f"{ENV_VAR}={setting!r}: {why}; valid settings are {', '.join(SETTINGS)} "
            "(install bubblewrap for 'namespace', or use 'rewrite')"
        )


def setting() -> str:
    value = os.environ.get(ENV_VAR, "auto").strip().lower() or "auto"
    if value not in SETTINGS:
        raise PfsModeUnavailable(value, "unknown setting")
    return value


def pfs_mode() -> str:
    """The mode in force: ``bwrap``, ``unshare`` (both namespaces) or ``rewrite``."""
    chosen = setting()
    if chosen == "rewrite":
        return "rewrite"
    if chosen in ("bwrap", "unshare"):
        if not _tool_works(chosen):
            raise PfsModeUnavailable(chosen, f"{chosen} is not on PATH or cannot make a namespace")
        return chosen
    found = _namespace_tool()
    if found is not None:
        return found
    if chosen == "namespace":
        raise PfsModeUnavailable(chosen, "neither bwrap nor 'unshare -Urm' works here")
    return "rewrite"


def _namespace_tool() -> str | None:
    """``unshare`` first: it execs, so the command stays the runner's direct child (a kill, a
    timeout and ``$PPID`` mean what they do without a namespace); ``bwrap`` forks a child."""
    return next((tool for tool in ("unshare", "bwrap") if _tool_works(tool)), None)


@functools.cache
def _tool_works(tool: str) -> bool:
    """Probed once per process by mounting a folder at ``/pfs`` for real, not just by finding
    the tool on PATH: user namespaces may be off in the kernel or a container's profile."""
    if shutil.which(tool) is None:
        return False
    with tempfile.TemporaryDirectory(prefix="dv-probe-") as tmp:
        pfs = Path(tmp) / "pfs"
        (pfs / "out").mkdir(parents=True)
        argv = wrap(tool, ["test", "-d", "/pfs/out"], pfs, "/", Path(tmp) / "root")
        return _works(argv)


def _works(argv: list[str]) -> bool:
    try:
        return subprocess.run(argv, capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def wrap(mode: str, argv: list[str], pfs: Path, cwd: str, new_root: Path) -> list[str]:
    """``argv`` run with ``pfs`` mounted at ``/pfs`` and ``cwd`` as its directory.

    ``new_root`` is an empty folder the ``unshare`` mode mounts its root on (the datum's
    scratch, removed with it); nothing is created on the host outside it.
    """
    if mode == "bwrap":
        args = ["bwrap", "--die-with-parent"]
        for name in sorted(os.listdir("/")):
            if name == "pfs":
                continue
            top = f"/{name}"
            if os.path.islink(top):
                args += ["--symlink", os.readlink(top), top]
            else:
                args += ["--dev-bind", top, top]
        return [*args, "--bind", str(pfs), "/pfs", "--chdir", cwd, "--", *argv]
    if mode == "unshare":
        new_root.mkdir(parents=True, exist_ok=True)
        return [
            "unshare",
            "-Urm",
            "--propagation",
            "private",
            "sh",
            "-c",
            _UNSHARE_ENTER,
            "dv-enter",
            str(new_root),
            str(pfs),
            cwd,
            *argv,
        ]
    raise AssertionError(mode)


def rewrite(text: str, pfs: Path) -> str:
    """Every ``/pfs`` path word of ``text`` pointed at the datum's folder ``pfs``."""
    return PFS_WORD.sub(str(pfs), text)


def scripts_naming_pfs(words: list[str], cwd: Path, search_path: str | None = None) -> list[str]:
    """Files named in ``cmd``/``stdin`` that mention ``/pfs``: rewriting cannot reach inside
    them, so in rewrite mode they read and write nothing.

    A word is a path (absolute, or relative to ``cwd``) or a program found on ``search_path``
    (the command's ``PATH``): an image's programs, put on ``PATH``, are called by bare name.
    """
    found: list[str] = []
    for word in dict.fromkeys(w.strip("'\"") for text in words for w in text.split()):
        if not word or "\0" in word:
            continue
        path = Path(word) if os.path.isabs(word) else cwd / word
        if "/" not in word and not path.is_file():
            on_path = shutil.which(word, path=search_path)
            path = Path(on_path) if on_path else path
        try:
            if not path.is_file() or path.stat().st_size > 4 * 1024 * 1024:
                continue
            if PFS_WORD.search(path.read_text(errors="replace")):
                found.append(word)
        except OSError:
            continue
    return found


__all__ = [
    "ENV_VAR",
    "PFS_WORD",
    "SETTINGS",
    "PfsModeUnavailable",
    "pfs_mode",
    "rewrite",
    "scripts_naming_pfs",
    "setting",
    "wrap",
]
