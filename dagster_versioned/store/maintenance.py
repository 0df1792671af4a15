"""``fsck``: verify every hash and reference (``gc``, re-exported here, lives in ``gc.py``).

fsck walks ref → commit → tree → objects and reports, in plain words, anything that does not
hold: a head pointing at a missing or unfinished commit, a commit whose parent or tree is gone,
an object whose bytes do not match its name, a tree entry whose name is not a file name (``..``,
``.``, empty, or holding ``/`` or NUL), an open-commit marker with no commit or naming a commit
that already landed. It also lists *leftovers*: files of an open commit whose finish landed (or
whose delete ran) but was killed before cleaning up. They are harmless — nothing reads them —
so they are not problems, but ``fix`` removes them. ``fix`` repairs what can be repaired
without losing data — a branch whose head is missing is moved back to its last good head by a
new ref-log entry; a dangling open-commit marker is removed — and says what it did.

fsck parses every pack, checks every packed object's hash like a loose object's, and checks
each pack's bytes against its name (without the ``.tree`` suffix of a tree pack).

The records the engines keep in the store's record areas are checked by the engines: each
registers a check in ``fsck_hooks`` when imported, and fsck runs them after its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from dagster_versioned.errors import CorruptObject, CorruptStore, VersionedError
from dagster_versioned.store import layout
from dagster_versioned.store.commits import Commit, CommitId
from dagster_versioned.store.finishing import abandoned, claim_key
from dagster_versioned.store.fsck_hooks import record_checks
from dagster_versioned.store.gc import GcReport, gc, object_keys, reachable_objects, repo_commits
from dagster_versioned.store.names import join_path
from dagster_versioned.store.objects import ObjectId, hash_bytes
from dagster_versioned.store.packs import (
    iter_objects,
    list_packs,
    pack_digest,
    pack_key,
    parse_pack,
)
from dagster_versioned.store.store import Store
from dagster_versioned.store.trees import Entry


@dataclass
class FsckReport:
    """What fsck found and, with ``fix``, what it repaired."""

    problems: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)
    """Harmless remains of interrupted operations (not problems); ``fix`` removes them."""
    fixed: list[str] = field(default_factory=list)
    commits: int = 0
    objects: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def fsck(store: Store, *, fix: bool = False, repos: Iterable[str] | None = None) -> FsckReport:
    """Verify the whole store; with ``fix``, repair what can be repaired without data loss.

    With ``repos``, verify only those repos: their refs, commits, trees and the objects those
    reference, and the records the engines keep of them (the checks they registered in
    ``fsck_hooks``: the Pachyderm engine's of pipelines of those names; the Dagster asset
    check runs this per asset); objects nothing in them references are then not re-hashed, but every
    pack holding one of theirs is checked whole, so a corrupt pack shows on each repo it serves.
    """
    report = FsckReport()
    verified: set[str] = set()
    referenced: set[str] = set()  # every object the repos reach, verified or found corrupt
    names_checked: set[str] = set()
    wanted = None if repos is None else set(repos)
    for repo in store.backend.listdir(layout.REPOS):
        if wanted is not None and repo not in wanted:
            continue
        if not store.backend.exists(layout.repo_record(repo)):
            report.problems.append(f"repo '{repo}' has data but no repo.json (a partial delete?)")
            continue
        _check_commits(store, repo, report, verified, referenced, names_checked)
        _check_branches(store, repo, report, fix)
        _check_open(store, repo, report, fix)
    if wanted is None:
        for key in object_keys(store):
            report.objects += 1
            oid = key.rsplit("/", 1)[1]
            if oid in verified:
                continue
            data = store.backend.read_or_none(key)
            if data is not None and hash_bytes(data) != oid:
                report.problems.append(f"object {oid} is corrupt: its bytes do not match its hash")
        _check_packs(store, report, list_packs(store.backend))
    else:
        report.objects = len(verified)
        _check_packs(store, report, _packs_holding(store, referenced), count=False)
    _run_record_checks(store, report, wanted)
    return report


def _packs_holding(store: Store, oids: set[str]) -> list[str]:
    """The packs that hold any of ``oids`` (the objects a per-repo fsck reached, including
    one found corrupt before any other object of its pack was verified)."""
    names: set[str] = set()
    for oid in oids:
        hit = store.objects.packs.lookup(oid)
        if hit is not None:
            names.add(hit[0])
    return sorted(names)


def _check_packs(
    store: Store, report: FsckReport, names: Iterable[str], *, count: bool = True
) -> None:
    """Each pack of ``names`` parses, every packed object's bytes match its id, and the
    pack's bytes match its name; ``count`` adds its objects to the report's count."""
    for name in names:
        key = pack_key(name)
        payload = store.backend.read_or_none(key)
        if payload is None:
            continue
        try:
            entries = parse_pack(name, payload)
        except CorruptStore as e:
            report.problems.append(str(e))
            continue
        bad = 0
        for entry, data in iter_objects(payload, entries):
            report.objects += count
            if hash_bytes(data) != entry.oid:  # always: ``verified`` may have read a loose copy
                bad += 1
                report.problems.append(
                    f"object {entry.oid} in pack {key} is corrupt: its bytes do not match its hash"
                )
        if not bad and hash_bytes(payload) != pack_digest(name):
            report.problems.append(f"pack {key} is corrupt: its bytes do not match its name")


def _check_commits(
    store: Store,
    repo: str,
    report: FsckReport,
    verified: set[str],
    referenced: set[str],
    names_checked: set[str],
) -> None:
    try:
        commits = repo_commits(store, repo)
    except CorruptStore as e:
        report.problems.append(str(e))
        return
    ids = {c.id for c in commits}
    for commit in commits:
        report.commits += 1
        if commit.parent is not None and commit.parent not in ids:
            report.problems.append(f"commit {repo}@{commit.id}: parent {commit.parent} is missing")
        if not commit.is_finished:
            report.problems.append(f"commit {repo}@{commit.id} has a record but is not finished")
        try:
            _verify_tree(store, commit.root, verified, referenced)
            _check_names(store, commit.root, "/", names_checked, report, f"{repo}@{commit.id}")
        except (CorruptStore, VersionedError) as e:
            report.problems.append(f"commit {repo}@{commit.id}: {e}")


def bad_name_reason(name: str) -> str | None:
    """Why ``name`` cannot be a file or directory name in a tree, or ``None`` if it can."""
    if name == "":
        return "an empty name"
    if name in (".", ".."):
        return f"'{name}', which would be read as {'this' if name == '.' else 'the parent'} folder"
    if "/" in name:
        return f"{name!r}, which contains '/' and would be read as a deeper path"
    if "\x00" in name:
        return f"{name!r}, which contains a NUL byte that file systems refuse"
    return None


def _check_names(
    store: Store, entry: Entry, path: str, checked: set[str], report: FsckReport, where: str
) -> None:
    """Check every entry name below ``entry``; each directory node is checked once per run."""
    if not entry.is_dir or entry.node is None or entry.node in checked:
        return
    checked.add(entry.node)
    for name, child in store.trees.dir_items(entry.node):
        reason = bad_name_reason(name)
        if reason is not None:
            report.problems.append(
                f"commit {where}: folder '{path}' holds an entry named {reason}; "
                "reading or restoring it could write outside its folder"
            )
            continue
        _check_names(store, child, join_path(path, name), checked, report, where)


def _verify_tree(store: Store, entry: Entry, verified: set[str], referenced: set[str]) -> None:
    reach: set[str] = set()
    store.trees.reachable(entry, reach)
    referenced |= reach
    for oid in reach - verified:
        data = store.objects.read_or_none(ObjectId(oid))
        if data is None:
            note = store.objects.packs.corrupt_note()
            raise CorruptObject(f"object {oid} is referenced but missing{note}", oid=oid)
        got = hash_bytes(data)
        if got != oid:
            raise CorruptObject(
                f"object {oid} is corrupt: its bytes do not match its hash (they hash to {got})",
                oid=oid,
                got=got,
            )
        verified.add(oid)


def _check_branches(store: Store, repo: str, report: FsckReport, fix: bool) -> None:
    for branch in store.refs.branches(repo):
        entry = store.refs.latest(repo, branch)
        if entry is None or not entry.exists or entry.head is None:
            continue
        if commit_finished(store, repo, entry.head):
            continue
        problem = f"branch {repo}@{branch}: head {entry.head} is missing or unfinished"
        report.problems.append(problem)
        if not fix:
            continue
        good = _last_good_head(store, repo, branch, entry.seq)
        if store.refs.append(
            entry, repo=repo, branch=branch, head=good, reason="fsck", trigger=entry.trigger
        ):
            report.fixed.append(f"moved {repo}@{branch} back to {good or 'no head'}")
            store.triggers.fire(repo, {branch})  # a repair is a head move like any other


def commit_finished(store: Store, repo: str, cid: CommitId) -> bool:
    """Whether commit ``repo@cid`` has a readable record and is finished: what a head must
    point at, and what an engine's record check asks of a commit its record names."""
    data = store.backend.read_or_none(layout.commit_record(repo, cid))
    if data is None:
        return False
    try:
        return Commit.from_bytes(data, f"{repo}@{cid}").is_finished
    except CorruptStore:
        return False


def _last_good_head(store: Store, repo: str, branch: str, before: int) -> CommitId | None:
    for seq in range(before - 1, -1, -1):
        entry = store.refs.read(repo, branch, seq)
        if entry is not None and entry.head and commit_finished(store, repo, entry.head):
            return entry.head
    return None


def _check_open(store: Store, repo: str, report: FsckReport, fix: bool) -> None:
    records: dict[str, Commit | None] = {}
    for name in store.backend.listdir(layout.open_commits_dir(repo)):
        if name.endswith(".json"):
            data = store.backend.read_or_none(f"{layout.open_commits_dir(repo)}/{name}")
            records[name[:-5]] = None if data is None else Commit.from_bytes(data, name)
    _check_markers(store, repo, report, fix, records)
    _check_open_leftovers(store, repo, report, fix, records)


def _check_markers(
    store: Store, repo: str, report: FsckReport, fix: bool, records: dict[str, Commit | None]
) -> None:
    for branch in store.backend.listdir(layout.open_branches_dir(repo)):
        data = store.backend.read_or_none(layout.open_branch(repo, branch))
        cid = data.decode() if data else ""
        record = records.get(cid)
        if record is not None and not _landed(store, record):
            continue
        if record is None:
            report.problems.append(
                f"branch {repo}@{branch} is marked open by a commit that is gone"
            )
        else:
            report.problems.append(
                f"branch {repo}@{branch} is marked open by commit {cid}, which already landed: "
                "files put on the branch would go into a finished commit and be lost"
            )
        if fix:
            store.backend.delete(layout.open_branch(repo, branch))
            report.fixed.append(f"removed the stale open-commit marker of {repo}@{branch}")


def _check_open_leftovers(
    store: Store, repo: str, report: FsckReport, fix: bool, records: dict[str, Commit | None]
) -> None:
    """Open-commit files that outlived their commit: a finish or delete killed mid-cleanup."""
    base = layout.open_commits_dir(repo)
    names = store.backend.listdir(base)
    for cid, record in records.items():
        if record is None or not _landed(store, record):
            continue
        report.leftovers.append(
            f"commit {repo}@{cid} landed, but its open-commit files were left behind "
            "(its finish was interrupted before cleaning up)"
        )
        if fix:
            store.backend.delete(f"{base}/{cid}.json")
            store.backend.delete_tree(f"{base}/{cid}")
            store.backend.delete(claim_key(repo, cid))
            report.fixed.append(f"removed the open-commit files of landed commit {repo}@{cid}")
    for name in names:
        cid = name.removesuffix(".finishing")
        if name.endswith(".json") or cid in records:
            continue
        if name.endswith(".finishing"):
            claim = store.backend.read_or_none(f"{base}/{name}")
            if claim is None or not abandoned(claim):
                continue  # a finish in progress
            what = f"the finish claim of commit {repo}@{cid}"
        else:
            what = f"the writes to open commit {repo}@{cid}"
        report.leftovers.append(
            f"{what} outlived the commit (a finish or delete was interrupted before cleaning up)"
        )
        if fix:
            if name.endswith(".finishing"):
                store.backend.delete(f"{base}/{name}")
            else:
                store.backend.delete_tree(f"{base}/{name}")
            report.fixed.append(f"removed {what}")


def _landed(store: Store, record: Commit) -> bool:
    """Whether a ref-log entry of the open commit's branch points at it (its finish landed)."""
    if not store.backend.exists(layout.commit_record(record.repo, record.id)):
        return False
    return any(e.head == record.id for e in store.refs.entries(record.repo, record.branch))


def _run_record_checks(store: Store, report: FsckReport, wanted: set[str] | None) -> None:
    """The checks the engines registered for their records (``fsck_hooks.py``)."""
    repos = None if wanted is None else frozenset(wanted)
    for _name, check in record_checks():
        report.problems.extend(check(store, repos))


__all__ = [
    "FsckReport",
    "GcReport",
    "ObjectId",
    "commit_finished",
    "fsck",
    "gc",
    "reachable_objects",
]
