"""Project snapshots: the project directory committed to a versioned repo, checked out per run.

A grid job takes one snapshot when it is created, as Orchest does: every file of the project
directory except what its top-level ``.gitignore`` excludes, the ``data/`` directory (where runs
write their outputs, so outputs never enter the snapshot or its hash), the store itself, ``.git``
and ``__pycache__``. The environment goes in with it, under ``.dv_environment/``: the Python
version and ``pip freeze``. The snapshot is one commit on branch ``<job name>`` of the repo
``grid-snapshots``; its commit id is on every run's tags.

Every run gets a private checkout of that commit (shared by the run's steps, which may be
separate processes): runs never see each other's files nor later edits of the project.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from dagster_versioned.errors import AlreadyExists, InvalidArgument
from dagster_versioned.gridcore.ignore import IgnoreRules, walk_project
from dagster_versioned.store import CommitId, Store
from dagster_versioned.store.location import STORE_DIR_NAME

SNAPSHOT_REPO = "grid-snapshots"
ENVIRONMENT_DIR = ".dv_environment"
DATA_DIR = "data"
SKIP_NAMES = (".git", "__pycache__", STORE_DIR_NAME, ".ipynb_checkpoints")


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """One snapshot commit of a project directory."""

    repo: str
    branch: str
    commit: CommitId
    project_dir: str
    files: int
    python: str
    created: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "repo": self.repo,
            "branch": self.branch,
            "commit": self.commit,
            "project_dir": self.project_dir,
            "files": self.files,
            "python": self.python,
            "created": self.created.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Snapshot:
        return cls(
            repo=data["repo"],
            branch=data["branch"],
            commit=CommitId(data["commit"]),
            project_dir=data["project_dir"],
            files=int(data["files"]),
            python=data["python"],
            created=datetime.fromisoformat(data["created"]),
        )


@functools.lru_cache(maxsize=1)
def pip_freeze() -> str:
    """``pip freeze`` of the running interpreter (cached per process; slow to start).

    Falls back to the installed distributions' ``name==version`` when pip is not available.
    """
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "freeze", "--all"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        from importlib import metadata

        names = {f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions()}
        return "\n".join(sorted(names, key=str.lower)) + "\n"
    return done.stdout


def environment() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "executable": sys.executable,
    }


def project_files(
    project_dir: Path, store: Store | None = None, extra_skip: Iterable[Path] = ()
) -> list[str]:
    """The root-relative paths a snapshot of ``project_dir`` contains (sorted)."""
    root = project_dir.resolve()
    skip = [root / DATA_DIR, *extra_skip]
    local = store.local_root if store is not None else None
    if local is not None:
        skip.append(local)
    return list(walk_project(root, IgnoreRules.from_project(root), skip, SKIP_NAMES))


def take_snapshot(
    store: Store,
    project_dir: str | os.PathLike[str],
    *,
    branch: str,
    repo: str = SNAPSHOT_REPO,
    description: str = "",
    extra_skip: Iterable[Path] = (),
) -> Snapshot:
    """Commit the project directory (and the environment) as one commit on ``repo@branch``."""
    root = Path(project_dir).resolve()
    if not root.is_dir():
        raise InvalidArgument(f"project directory {str(project_dir)!r} is not a directory")
    files = project_files(root, store, extra_skip)
    with contextlib.suppress(AlreadyExists):
        store.create_repo(repo, description="project snapshots of grid jobs")
    env = environment()
    with store.commit(f"{repo}@{branch}", description=description or f"snapshot of {root}") as c:
        for rel, entry in store.upload_files(root, files):
            c.put_entry(f"/{rel}", entry)
        c.put_file(f"/{ENVIRONMENT_DIR}/python.json", json.dumps(env, indent=2) + "\n")
        c.put_file(f"/{ENVIRONMENT_DIR}/pip-freeze.txt", pip_freeze())
    commit = c.landed
    assert commit is not None
    return Snapshot(
        repo=repo,
        branch=branch,
        commit=commit.id,
        project_dir=str(root),
        files=len(files),
        python=env["python"],
        created=commit.finished or commit.started,
    )


def snapshot_environment(store: Store, repo: str, commit: str) -> dict[str, Any]:
    """The Python version and ``pip freeze`` recorded with a snapshot."""
    base = f"{repo}@{commit}:/{ENVIRONMENT_DIR}"
    info: dict[str, Any] = json.loads(store.get_file(f"{base}/python.json"))
    info["pip_freeze"] = store.get_file(f"{base}/pip-freeze.txt").decode()
    return info


def checkout(store: Store, repo: str, commit: str, dest: str | os.PathLike[str]) -> Path:
    """Materialise the snapshot commit at ``dest`` once; later calls reuse it.

    Atomic (``Store.checkout``): two steps of one run checking out at the same time end with
    one complete copy, never a mix. The recorded environment is left out of the working copy.
    """
    return store.checkout(f"{repo}@{commit}:/", dest, skip=lambda rel: rel == ENVIRONMENT_DIR).path


def remove_checkout(path: str | os.PathLike[str]) -> None:
    shutil.rmtree(path, ignore_errors=True)
