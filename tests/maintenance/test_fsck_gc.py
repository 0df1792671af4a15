"""fsck finds what is broken and says so; gc deletes only what nothing references."""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from dagster_versioned.cli.main import load_commands
from dagster_versioned.store import Store
from dagster_versioned.store.commits import new_commit_id
from dagster_versioned.store.finishing import claim_key
from dagster_versioned.store.maintenance import fsck, gc
from dagster_versioned.store.objects import hash_bytes
from dagster_versioned.store.trees import dir_entry


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.open(str(tmp_path / "store"))
    s.create_repo("data")
    with s.commit("data@master") as c:
        c.put_file("/a.txt", b"alpha")
        c.put_file("/dir/b.txt", b"beta")
    return s


def object_path(store: Store, data: bytes) -> Path:
    oid = hash_bytes(data)
    return Path(store.backend.path(f"objects/{oid[:2]}/{oid}"))


def test_a_healthy_store_passes_fsck(store):
    report = fsck(store)
    assert report.ok, report.problems
    assert report.commits == 1
    assert report.objects > 2


def test_fsck_names_an_object_whose_bytes_do_not_match_its_hash(store):
    object_path(store, b"alpha").write_bytes(b"tampered")
    report = fsck(store)
    assert any(hash_bytes(b"alpha") in p and "corrupt" in p for p in report.problems)


def test_fsck_names_a_referenced_object_that_is_missing(store):
    object_path(store, b"beta").unlink()
    report = fsck(store)
    assert any(hash_bytes(b"beta") in p and "missing" in p for p in report.problems)


def test_fsck_fix_moves_a_branch_off_a_missing_head(store):
    good = store.inspect_commit("data@master").id
    latest = store.refs.latest("data", "master")
    store.refs.append(
        latest, repo="data", branch="master", head="f" * 32, reason="commit", trigger=None
    )
    report = fsck(store)
    assert any("head ffff" in p for p in report.problems)
    fixed = fsck(store, fix=True)
    assert fixed.fixed == [f"moved data@master back to {good}"]
    assert store.inspect_branch("data@master").head == good
    assert fsck(store).ok


def test_fsck_fix_removes_an_open_commit_marker_whose_commit_is_gone(store):
    commit = store.start_commit("data@master")
    store.backend.delete(f"repos/data/open-commits/{commit.id}.json")
    assert not fsck(store).ok
    assert fsck(store, fix=True).fixed
    assert fsck(store).ok
    store.start_commit("data@master")


def finish_keeping_open_files(store: Store) -> tuple[str, dict[str, bytes]]:
    """Finish an open commit, then put back the files a finish killed before cleanup leaves."""
    commit = store.start_commit("data@master")
    store.put_file("data@master:/c.txt", b"gamma")
    base = f"repos/data/open-commits/{commit.id}"
    op = store.backend.listdir(base)[0]
    saved = {
        f"{base}.json": store.backend.read(f"{base}.json"),
        f"{base}/{op}": store.backend.read(f"{base}/{op}"),
        claim_key("data", commit.id): b'{"host": "gone", "pid": 1, "time": 0}',
    }
    store.finish_commit("data@master")
    for key, data in saved.items():
        store.backend.write(key, data)
    return commit.id, saved


def test_fsck_reports_open_commit_files_left_after_their_finish_landed_and_fix_removes_them(
    store,
):
    cid, saved = finish_keeping_open_files(store)
    report = fsck(store)
    assert report.ok, report.problems  # harmless: nothing reads them
    assert report.leftovers == [
        f"commit data@{cid} landed, but its open-commit files were left behind "
        "(its finish was interrupted before cleaning up)"
    ]
    fixed = fsck(store, fix=True)
    assert fixed.fixed == [f"removed the open-commit files of landed commit data@{cid}"]
    assert not any(store.backend.exists(key) for key in saved)
    after = fsck(store)
    assert after.ok
    assert after.leftovers == []
    assert store.get_file("data@master:/c.txt") == b"gamma"


def test_fsck_reports_writes_and_a_finish_claim_that_outlived_their_open_commit(store):
    cid, _ = finish_keeping_open_files(store)
    store.backend.delete(f"repos/data/open-commits/{cid}.json")  # cleanup got one step further
    report = fsck(store)
    assert report.ok
    assert len(report.leftovers) == 2
    assert all(cid in line and "outlived the commit" in line for line in report.leftovers)
    fsck(store, fix=True)
    assert store.backend.listdir("repos/data/open-commits") == []
    assert fsck(store).leftovers == []


def test_fsck_leaves_the_claim_of_a_finish_in_progress_alone(store):
    cid = new_commit_id()
    live = f'{{"host": "{socket.gethostname()}", "pid": {os.getpid()}, "time": {time.time()}}}'
    store.backend.write(claim_key("data", cid), live.encode())
    report = fsck(store, fix=True)
    assert report.leftovers == []
    assert store.backend.exists(claim_key("data", cid))


def test_fsck_fix_removes_a_branch_marker_naming_a_commit_that_already_landed(store):
    cid, _ = finish_keeping_open_files(store)
    store.backend.write("repos/data/open-branches/master", cid.encode())
    report = fsck(store)
    assert report.problems == [
        f"branch data@master is marked open by commit {cid}, which already landed: "
        "files put on the branch would go into a finished commit and be lost"
    ]
    fsck(store, fix=True)
    assert fsck(store).ok
    store.put_file("data@master:/d.txt", b"delta")  # a commit of its own again
    assert store.get_file("data@master:/d.txt") == b"delta"


def commit_with_names(store: Store, names: list[str], *, inside: str | None = None) -> str:
    """Land a commit whose tree holds ``names`` (built below the path checks, as a bug or a
    hostile writer could), optionally inside folder ``inside``."""
    head = store.inspect_commit("data@master")
    alpha = store.trees.lookup(head.root, "/a.txt")
    assert alpha is not None
    node = store.trees._build(dict.fromkeys(names, alpha), 0)
    root = dir_entry(node.node, node.size, node.files)
    if inside is not None:
        outer = store.trees._build({inside: root}, 0)
        root = dir_entry(outer.node, outer.size, outer.files)
    store.trees.flush()
    commit = replace(head.with_tree(root), id=new_commit_id(), parent=head.id)
    store.backend.write(f"repos/data/commits/{commit.id}.json", commit.to_bytes())
    latest = store.refs.latest("data", "master")
    store.refs.append(
        latest, repo="data", branch="master", head=commit.id, reason="commit", trigger=None
    )
    return commit.id


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("..", "'..', which would be read as the parent folder"),
        (".", "'.', which would be read as this folder"),
        ("", "an empty name"),
        ("a/b", "'a/b', which contains '/' and would be read as a deeper path"),
        ("a\x00b", "'a\\x00b', which contains a NUL byte that file systems refuse"),
    ],
    ids=["dotdot", "dot", "empty", "slash", "nul"],
)
def test_fsck_names_a_tree_entry_whose_name_is_not_a_file_name(store, name, words):
    cid = commit_with_names(store, ["fine.txt", name])
    report = fsck(store)
    assert report.problems == [
        f"commit data@{cid}: folder '/' holds an entry named {words}; "
        "reading or restoring it could write outside its folder"
    ]


def test_fsck_says_in_which_folder_a_bad_name_sits(store):
    cid = commit_with_names(store, [".."], inside="deep")
    assert fsck(store).problems == [
        f"commit data@{cid}: folder '/deep' holds an entry named '..', which would be read as "
        "the parent folder; reading or restoring it could write outside its folder"
    ]


def test_an_abandoned_open_commit_can_be_finished_or_deleted(store):
    store.start_commit("data@master")
    store.put_file("data@master:/c.txt", b"gamma")
    fresh = Store.open(store.backend.url)
    fresh.delete_commit("data@master")
    fresh.start_commit("data@master")
    fresh.put_file("data@master:/d.txt", b"delta")
    fresh.finish_commit("data@master")
    assert sorted(f.path for f in fresh.list_file("data@master")) == ["/a.txt", "/d.txt", "/dir"]


def test_gc_deletes_unreferenced_objects_and_keeps_referenced_ones(store):
    store.create_repo("scratch")
    store.put_file("scratch@master:/big", os.urandom(5000))
    store.delete_repo("scratch")
    dry = gc(store, grace=0, dry_run=True)
    assert dry.deleted
    assert gc(store, grace=3600).deleted == []
    report = gc(store, grace=0)
    assert report.deleted == dry.deleted
    assert store.get_file("data@master:/a.txt") == b"alpha"
    assert store.get_file("data@master:/dir/b.txt") == b"beta"
    assert fsck(store).ok


def test_gc_keeps_what_an_open_commit_wrote(store):
    store.start_commit("data@master")
    store.put_file("data@master:/pending.txt", b"pending")
    gc(store, grace=0)
    store.finish_commit("data@master")
    assert store.get_file("data@master:/pending.txt") == b"pending"


def test_gc_is_safe_while_writers_commit(store):
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        i = 0
        try:
            while not stop.is_set():
                with store.commit("data@master") as c:
                    c.put_file(f"/w/{i % 5}.txt", f"version {i}".encode())
                i += 1
        except BaseException as e:
            errors.append(e)

    thread = threading.Thread(target=writer)
    thread.start()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        gc(store, grace=1.0)
    stop.set()
    thread.join()
    assert not errors
    assert fsck(store).ok


def test_gc_counts_ages_from_before_its_scan_so_a_commit_landing_during_it_is_safe(
    store, monkeypatch
):
    """A commit that lands while gc is still finding what is reachable: its new object was
    not reachable when the scan looked, and grows older than the grace period before the scan
    ends. It must survive — the commit itself took far less than the grace period."""
    from dagster_versioned.store import gc as gc_module

    store.start_commit("data@master")
    store.put_file("data@master:/new.txt", b"written just before gc started")
    real_scan = gc_module.reachable_objects

    def slow_scan(s):
        found = real_scan(s)
        store.finish_commit("data@master")
        time.sleep(1.5)
        return found

    monkeypatch.setattr(gc_module, "reachable_objects", slow_scan)
    gc(store, grace=1.0)
    assert store.get_file("data@master:/new.txt") == b"written just before gc started"
    assert fsck(store).ok


def dvctl(url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(load_commands(), ["--storage", url, *args])
    return result.exit_code, result.output


def test_dvctl_fsck_and_gc_report_in_plain_words(store):
    url = store.backend.url
    code, out = dvctl(url, "fsck")
    assert code == 0
    assert "0 problems" in out
    object_path(store, b"alpha").write_bytes(b"tampered")
    code, out = dvctl(url, "fsck")
    assert code == 1
    assert "problem: object" in out
    store.backend.write("repos/data/open-commits/" + "e" * 32 + "/op.json", b"{}")
    code, out = dvctl(url, "fsck")
    assert "leftover: the writes to open commit data@eeee" in out
    assert "1 leftovers (dvctl fsck --fix removes them)" in out
    code, out = dvctl(url, "gc", "--grace", "0s", "--dry-run")
    assert code == 0
    assert out.startswith("would delete")
    code, out = dvctl(url, "gc", "--grace", "soon")
    assert code == 1
    assert "invalid --grace 'soon'" in out


def test_fsck_is_clean_on_a_store_with_a_tree_pack(tmp_path: Path):
    """Regression: fsck compared a tree pack's hash with its name, ``.tree`` suffix and all."""
    src = tmp_path / "run1"
    for i in range(300):  # 300 files in 30 folders: 30+ new tree nodes, so a tree pack
        (src / f"d{i % 30:02d}").mkdir(parents=True, exist_ok=True)
        (src / f"d{i % 30:02d}" / f"f{i}.bin").write_bytes(os.urandom(20_000))
    url = str(tmp_path / "s")
    assert dvctl(url, "create", "repo", "r")[0] == 0
    assert dvctl(url, "put", "file", "r@master:/run1/", "-r", "-f", str(src))[0] == 0
    assert any(p.name.endswith(".tree.pack") for p in (tmp_path / "s" / "packs").iterdir())

    code, out = dvctl(url, "fsck")

    assert code == 0, out
    assert "0 problems" in out
    assert fsck(Store.open(url), repos=["r"]).ok


def _corrupt_one_pack(store: Store) -> str:
    """Flip the first byte of one packed object in a data pack; the pack's key."""
    from dagster_versioned.store.packs import is_tree_pack, list_packs, load_index, pack_key

    name = next(n for n in list_packs(store.backend) if not is_tree_pack(n))
    entry = load_index(store.backend, name)[0]
    path = Path(store.backend.path(pack_key(name)))
    raw = bytearray(path.read_bytes())
    raw[entry.offset] ^= 0xFF
    path.write_bytes(bytes(raw))
    return pack_key(name)


def test_repo_fsck_checks_the_packs_holding_the_repos_objects(tmp_path: Path):
    """The per-repo check (the Dagster asset check) once skipped packs, so it stayed green."""
    store = Store.open(str(tmp_path / "s"))
    store.create_repo("r")
    store.create_repo("other")
    local = tmp_path / "files"
    local.mkdir()
    for i in range(20):  # a folder of 20 small files: stored as one pack
        (local / f"f{i}.txt").write_bytes(f"file {i}".encode())
    with store.commit("r@master") as c:
        c.put_file("/", local)
    key = _corrupt_one_pack(store)

    fresh = Store.open(str(tmp_path / "s"))  # no pack bytes cached from writing
    report = fsck(fresh, repos=["r"])

    assert not report.ok
    assert any("corrupt" in p for p in report.problems), report.problems
    assert any(key in p for p in report.problems), report.problems
    assert fsck(Store.open(str(tmp_path / "s")), repos=["other"]).ok


def test_repo_fsck_names_the_pack_when_every_object_in_it_is_corrupt(tmp_path: Path):
    """Regression: the per-repo check chose packs by the objects it had verified, so a pack
    whose objects were all corrupt (or whose corrupt object was read first) went unchecked."""
    from dagster_versioned.store.packs import is_tree_pack, list_packs, load_index, pack_key

    store = Store.open(str(tmp_path / "s"))
    store.create_repo("r")
    local = tmp_path / "files"
    local.mkdir()
    for i in range(20):
        (local / f"f{i}.txt").write_bytes(f"file {i}".encode())
    with store.commit("r@master") as c:
        c.put_file("/", local)
    name = next(n for n in list_packs(store.backend) if not is_tree_pack(n))
    path = Path(store.backend.path(pack_key(name)))
    raw = bytearray(path.read_bytes())
    for entry in load_index(store.backend, name):
        raw[entry.offset] ^= 0xFF
    path.write_bytes(bytes(raw))

    report = fsck(Store.open(str(tmp_path / "s")), repos=["r"])

    assert not report.ok
    assert any(pack_key(name) in p for p in report.problems), report.problems


def test_fsck_is_clean_on_a_branch_created_without_a_head(tmp_path: Path):
    """Regression: a new branch's AUTO commit has the empty folder as its root, a node that is
    never stored; fsck reported it as a referenced object that is missing."""
    store = Store.open(str(tmp_path / "s"))
    store.create_repo("data")
    store.create_branch("data@staging")

    assert fsck(store).ok, fsck(store).problems
    assert fsck(store, repos=["data"]).ok
    assert gc(store, grace=0).deleted == []
