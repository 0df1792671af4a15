"""``gc``: delete objects and packs nothing references, never one younger than a grace period.

gc keeps every object reachable from any commit (finished or open) and deletes the rest, but
never one younger than the grace period: a writer's objects exist before the commit that names
them, and writers refresh the age of objects they reuse, so gc can run while they write.

Packs (``packs.py``) are immutable: gc deletes a pack whose objects are all unreachable (and
which is older than the grace period) and keeps a pack with any live object whole, reporting
the dead bytes it keeps. Rewriting partly dead packs (repacking) is not done yet.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from dagster_versioned.durations import parse_duration
from dagster_versioned.errors import CorruptStore
from dagster_versioned.store import layout
from dagster_versioned.store.commits import Commit
from dagster_versioned.store.layout import pack_key
from dagster_versioned.store.packs import list_packs, load_index
from dagster_versioned.store.store import Store
from dagster_versioned.store.trees import Entry


@dataclass
class GcReport:
    """What gc kept and deleted."""

    reachable: int = 0
    deleted: list[str] = field(default_factory=list)
    temporaries: int = 0
    """Leftover temporary files of killed writers that were removed."""
    kept_young: int = 0
    bytes_freed: int = 0
    """Bytes of the deleted objects and packs (with ``dry_run``: bytes that would be freed)."""
    packs_deleted: list[str] = field(default_factory=list)
    """Keys of the packs deleted whole (their objects are listed in ``deleted`` too)."""
    packs_partly_dead: int = 0
    """Packs kept for their live objects although some of their objects are unreachable."""
    dead_bytes_kept: int = 0
    """Bytes of unreachable objects inside kept packs: freed only by a future repack."""


def object_keys(store: Store) -> Iterator[str]:
    for prefix in store.backend.listdir(layout.OBJECTS):
        for name in store.backend.listdir(layout.object_shard(prefix)):
            if len(name) == 64:
                yield f"{layout.object_shard(prefix)}/{name}"


def repo_commits(store: Store, repo: str) -> list[Commit]:
    out = []
    for name in store.backend.listdir(layout.commits_dir(repo)):
        if name.endswith(".json"):
            data = store.backend.read(layout.commit_record(repo, name[:-5]))
            out.append(Commit.from_bytes(data, f"{repo}@{name[:-5]}"))
    return out


def open_ops(store: Store, repo: str) -> Iterator[dict[str, Any]]:
    for name in store.backend.listdir(layout.open_commits_dir(repo)):
        if "." in name:  # records (.json) and finish claims (.finishing); op folders are ids
            continue
        op_dir = layout.open_commit_dir(repo, name)
        for op_name in store.backend.listdir(op_dir):
            data = store.backend.read_or_none(f"{op_dir}/{op_name}")
            if data is not None:
                yield json.loads(data)


def reachable_objects(store: Store) -> set[str]:
    """Every object id a commit, an open commit or a running job's plan refers to."""
    seen: set[str] = set()
    for repo in store.backend.listdir(layout.REPOS):
        for commit in repo_commits(store, repo):
            store.trees.reachable(commit.root, seen)
        for op in open_ops(store, repo):
            if "entry" in op:
                store.trees.reachable(Entry.from_json(op["entry"]), seen)
            seen.update(str(c) for c in op.get("chunks", []))
    return seen


def gc(store: Store, *, grace: float | str = 3600.0, dry_run: bool = False) -> GcReport:
    """Delete unreferenced objects older than ``grace`` (seconds, or a duration like ``2d``).

    A negative grace would delete the objects of commits still being written, so it is refused.
    """
    grace = parse_duration(grace, "gc grace", unitless=True)
    report = GcReport()
    # Ages count from before the scan of what is reachable: an object written just before the
    # scan whose commit landed during it is unreachable in ``keep`` and, were ages counted from
    # after a long scan, already "old". From here, it is deleted only if its commit took longer
    # than ``grace`` — the one guarantee the docs state.
    now = time.time()
    keep = reachable_objects(store)
    report.reachable = len(keep)
    for key in object_keys(store):
        oid = key.rsplit("/", 1)[1]
        if oid in keep:
            continue
        mtime = store.backend.mtime(key)
        if mtime is None:
            continue
        if now - mtime < grace:
            report.kept_young += 1
            continue
        report.bytes_freed += store.backend.size(key)
        if not dry_run:
            store.backend.delete(key)
        report.deleted.append(oid)
    _gc_packs(store, keep, grace, dry_run, report, now)
    if not dry_run:
        report.temporaries = store.backend.remove_stale_temporaries(grace)
    return report


def _gc_packs(
    store: Store, keep: set[str], grace: float, dry_run: bool, report: GcReport, now: float
) -> None:
    """Delete packs whose objects are all unreachable and older than ``grace`` at ``now`` (the
    start of the reachability scan); keep the rest.

    A pack that does not parse is kept (fsck reports it): what it holds cannot be known.
    """
    for name in list_packs(store.backend):
        key = pack_key(name)
        try:
            entries = load_index(store.backend, name)
        except (CorruptStore, FileNotFoundError):
            continue
        dead = [e for e in entries if e.oid not in keep]
        if len(dead) < len(entries):
            if dead:
                report.packs_partly_dead += 1
                report.dead_bytes_kept += sum(e.length for e in dead)
            continue
        mtime = store.backend.mtime(key)
        if mtime is None:
            continue
        if now - mtime < grace:
            report.kept_young += len(entries)
            continue
        report.bytes_freed += store.backend.size(key)
        if not dry_run:
            store.backend.delete(key)
            store.objects.packs.forget(name)
        report.deleted.extend(e.oid for e in entries)
        report.packs_deleted.append(key)


__all__ = ["GcReport", "gc", "object_keys", "open_ops", "reachable_objects", "repo_commits"]
