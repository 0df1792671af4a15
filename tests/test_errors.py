"""Errors carry their data: what each error of ``dagster_versioned.errors`` tells a caller.

A caller catches ``VersionedError`` and shows ``str(error)``; code that wants to act on an
error reads its attributes instead of parsing the message. These tests are that contract:

* the tree drawn in ``errors.py``'s docstring is the class hierarchy, exactly;
* a compare-and-swap that keeps losing raises ``Conflict`` with ``expected`` (the version the
  writer last read) and ``got`` (the newer one it found);
* an object whose bytes are not what its name says raises ``CorruptObject`` with ``oid``,
  ``expected`` (= ``oid``), ``got`` (the hash its bytes have, ``None`` when they could not be
  read whole) and ``key`` (where they were read);
* a job that ends badly raises ``JobFailed`` holding the job's record;
* all of it survives pickling, so an error from a worker process arrives whole.
"""

from __future__ import annotations

import builtins as builtins_module
import dataclasses
import inspect
import json
import os
import pickle
import re
from pathlib import Path
from typing import Any

import pytest

from dagster_versioned import errors
from dagster_versioned.errors import (
    Conflict,
    CorruptObject,
    CorruptStore,
    InvalidPath,
    JobFailed,
    StateError,
    Unrunnable,
    VersionedError,
)
from dagster_versioned.gridcore import records as grid_records
from dagster_versioned.gridcore.records import BatchRecord, GridJobRecord, GridJobStore
from dagster_versioned.pps.inputs import pfs
from dagster_versioned.pps.jobs import JobState
from dagster_versioned.pps.runner import run_job
from dagster_versioned.pps.spec import PipelineSpec
from dagster_versioned.pps.transform import Datum
from dagster_versioned.store import Store, commit_ops, revlog
from dagster_versioned.store.commits import canonical_json, now
from dagster_versioned.store.objects import hash_bytes, object_key
from dagster_versioned.store.packs import list_packs, load_index, pack_key

# ---------------------------------------------------------------- the tree in the docstring

_NODE = re.compile(
    r"^(?P<indent>(?:│   |    )*)(?:├── |└── )(?P<name>\w+)(?: \((?P<also>[^)]*)\))?$"
)


def _drawn_tree() -> dict[str, tuple[str, tuple[str, ...]]]:
    """Class name -> (parent drawn above it, builtins drawn beside it), from the docstring."""
    doc = errors.__doc__ or ""
    lines = doc.split("::", 1)[1].split('"""')[0].splitlines()
    drawn = [line[4:] for line in lines if line.startswith("    ") and line.strip()]
    assert drawn[0] == "VersionedError"
    parents = ["VersionedError"]
    tree: dict[str, tuple[str, tuple[str, ...]]] = {}
    for line in drawn[1:]:
        match = _NODE.match(line)
        if match is None:
            break  # the drawing has ended
        depth = len(match["indent"]) // 4 + 1
        also = tuple(a.strip() for a in (match["also"] or "").split(",") if a.strip())
        tree[match["name"]] = (parents[depth - 1], also)
        del parents[depth:]
        parents.append(match["name"])
    return tree


def _defined() -> dict[str, type[BaseException]]:
    return {
        name: cls
        for name, cls in vars(errors).items()
        if inspect.isclass(cls)
        and issubclass(cls, VersionedError)
        and cls.__module__ == errors.__name__
        and cls is not VersionedError
    }


def test_the_tree_in_the_docstring_draws_every_class_defined_and_no_other():
    assert sorted(_drawn_tree()) == sorted(_defined())


def test_each_class_inherits_what_the_tree_draws_it_under_and_the_builtins_beside_it():
    defined = _defined()
    for name, (parent, builtins) in _drawn_tree().items():
        expected = (getattr(errors, parent), *(getattr(builtins_module, b) for b in builtins))
        assert defined[name].__bases__ == expected, name


def test_classes_moved_here_are_still_importable_from_their_old_modules():
    from dagster_versioned.pps import plan, runner

    assert runner.JobFailed is JobFailed
    assert plan.Unrunnable is Unrunnable
    assert issubclass(Unrunnable, StateError)
    assert issubclass(CorruptObject, CorruptStore)


# ---------------------------------------------------------------- Conflict: a lost race


def _rival_entry(data: bytes) -> bytes:
    """A ref-log entry another writer made at the same seq: it moved the head elsewhere."""
    raw = json.loads(data)
    raw["head"], raw["reason"] = raw["previous"], "move"
    return canonical_json(raw)


def test_a_commit_that_always_loses_the_race_raises_conflict_with_the_seqs(tmp_path, monkeypatch):
    """Each time the writer creates the ref-log entry after the one it read, a rival has
    just created it: after the attempts are spent, ``expected`` is the seq it last read and
    ``got`` the rival's, newer one."""
    store = Store.open(str(tmp_path / "store"))
    store.create_repo("images")
    store.put_file("images@master:/a.png", b"A")
    start = store.inspect_branch("images@master").seq
    monkeypatch.setattr(commit_ops, "_CAS_ATTEMPTS", 3)
    monkeypatch.setattr(commit_ops, "race_backoff", lambda attempt=0: None)
    create = store.backend.create

    def rival_first(key: str, data: bytes) -> bool:
        if re.fullmatch(r"repos/images/branches/master/\d+\.json", key):
            assert create(key, _rival_entry(data))
        return create(key, data)

    monkeypatch.setattr(store.backend, "create", rival_first)

    with pytest.raises(Conflict) as lost, store.commit("images@master") as c:
        c.put_file("/b.png", b"B")

    assert lost.value.expected == start + 2  # it read start, start + 1, start + 2
    assert lost.value.got == start + 3
    message = str(lost.value)
    assert "'images@master'" in message
    assert "3 times" in message
    assert f"last read ref-log entry {start + 2}, now {start + 3}" in message


def _grid_job(name: str) -> GridJobRecord:
    at = now()
    return GridJobRecord(
        id="0" * 32, name=name, title="nightly", pipeline={}, grid={}, created=at, updated=at
    )


def test_a_grid_job_update_that_always_loses_raises_conflict_with_the_revisions(
    tmp_path, monkeypatch
):
    store = Store.open(str(tmp_path / "store"))
    jobs = GridJobStore(store)
    jobs.create(_grid_job("nightly"))
    monkeypatch.setattr(revlog, "ATTEMPTS", 2)  # the job record is a shared revision log
    create = store.backend.create

    def rival_first(key: str, data: bytes) -> bool:
        if "/revisions/" in key:
            raw = json.loads(data)
            assert create(key, json.dumps({**raw, "title": "renamed by a rival"}).encode())
        return create(key, data)

    monkeypatch.setattr(store.backend, "create", rival_first)

    with pytest.raises(Conflict) as lost:
        jobs.update("nightly", lambda job: dataclasses.replace(job, title="paused"))

    # It lost revisions 1 and 2 to the rival, re-reading after each loss.
    assert (lost.value.expected, lost.value.got) == (2, 2)
    assert "grid job 'nightly'" in str(lost.value)
    assert "2 other writers" in str(lost.value)


def test_a_batch_that_always_loses_its_index_raises_conflict_with_the_indices(
    tmp_path, monkeypatch
):
    store = Store.open(str(tmp_path / "store"))
    jobs = GridJobStore(store)
    jobs.create(_grid_job("nightly"))
    monkeypatch.setattr(grid_records, "_CAS_ATTEMPTS", 3)
    create = store.backend.create

    def rival_first(key: str, data: bytes) -> bool:
        if key.endswith("/batch.json"):
            assert create(key, json.dumps({**json.loads(data), "global_id": "rival"}).encode())
        return create(key, data)

    monkeypatch.setattr(store.backend, "create", rival_first)

    def make(index: int, previous: BatchRecord | None) -> BatchRecord:
        at = now()
        return BatchRecord(
            index=index, global_id="1" * 32, trigger="manual", trigger_key=f"request:{index}",
            scheduled_time=at, created=at, grid_revision=0, cells=(),
        )  # fmt: skip

    with pytest.raises(Conflict) as lost:
        jobs.create_batch("nightly", make)

    # It tried indices 0, 1, 2: the last time it believed batch 1 the newest; 2 was.
    assert (lost.value.expected, lost.value.got) == (1, 2)
    assert "grid job 'nightly'" in str(lost.value)
    assert "3 times" in str(lost.value)


# ---------------------------------------------------------------- CorruptObject


def _strict(store: Store) -> Store:
    reader = Store.open(store.backend.url)
    reader.objects.verify = True
    return reader


def test_a_tampered_loose_object_raises_corrupt_object_naming_both_hashes(tmp_path):
    store = Store.open(str(tmp_path / "store"))
    store.create_repo("r")
    store.put_file("r@master:/a.txt", b"alpha")
    oid = hash_bytes(b"alpha")
    Path(store.backend.path(object_key(oid))).write_bytes(b"alphA")

    with pytest.raises(CorruptObject) as bad:
        _strict(store).get_file("r@master:/a.txt")

    assert bad.value.oid == bad.value.expected == oid
    assert bad.value.got == hash_bytes(b"alphA")
    assert bad.value.key == object_key(oid)
    assert "does not match its hash" in str(bad.value)
    assert oid in str(bad.value)
    assert hash_bytes(b"alphA") in str(bad.value)


def test_a_loose_object_cut_short_is_caught_even_without_verify(tmp_path):
    """The file's size says how long its one chunk must be: a short one is not served."""
    store = Store.open(str(tmp_path / "store"))
    store.create_repo("r")
    store.put_file("r@master:/a.txt", b"alpha")
    oid = hash_bytes(b"alpha")
    Path(store.backend.path(object_key(oid))).write_bytes(b"alp")

    with pytest.raises(CorruptObject, match="cut short") as bad:
        store.get_file("r@master:/a.txt")

    assert (bad.value.oid, bad.value.expected, bad.value.got) == (oid, oid, hash_bytes(b"alp"))


def _packed_repo(store: Store, tmp_path: Path, n: int = 30) -> tuple[str, dict[str, bytes]]:
    """A repo of ``n`` small files, stored as one pack; its name and the files."""
    files = {f"/f{i:03d}.bin": f"{i}:".encode() + os.urandom(200) for i in range(n)}
    for path, data in files.items():
        (tmp_path / "data" / path[1:]).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "data" / path[1:]).write_bytes(data)
    store.create_repo("r")
    with store.commit("r@master") as c:
        c.put_file("/", tmp_path / "data")
    (name,) = [n for n in list_packs(store.backend) if not n.endswith(".tree")]
    return name, files


def test_a_tampered_packed_object_raises_corrupt_object_naming_its_pack(tmp_path):
    store = Store.open(str(tmp_path / "store"))
    name, files = _packed_repo(store, tmp_path)
    oid = hash_bytes(files["/f007.bin"])
    (entry,) = [e for e in load_index(store.backend, name) if e.oid == oid]
    pack = Path(store.backend.path(pack_key(name)))
    payload = bytearray(pack.read_bytes())
    payload[entry.offset + 5] ^= 0xFF
    pack.write_bytes(bytes(payload))
    tampered = bytes(payload[entry.offset : entry.offset + entry.length])

    with pytest.raises(CorruptObject) as bad:
        _strict(store).get_file("r@master:/f007.bin")

    assert bad.value.oid == bad.value.expected == oid
    assert bad.value.got == hash_bytes(tampered)
    assert bad.value.key == pack_key(name)
    assert f"object {oid} in {pack_key(name)} does not match its hash" in str(bad.value)


def test_a_pack_cut_inside_its_objects_raises_corrupt_object_without_a_hash(tmp_path):
    """Bytes that cannot be read whole have no hash: ``got`` is ``None`` and the message says
    they were cut short, and how much is there."""
    store = Store.open(str(tmp_path / "store"))
    name, files = _packed_repo(store, tmp_path)
    store.get_file("r@master:/f000.bin")  # this store has read the pack's index
    oid = hash_bytes(files["/f029.bin"])
    (entry,) = [e for e in load_index(store.backend, name) if e.oid == oid]
    with Path(store.backend.path(pack_key(name))).open("r+b") as f:
        f.truncate(entry.offset + 10)

    with pytest.raises(CorruptObject, match="cut short") as bad:
        store.get_file("r@master:/f029.bin")

    assert (bad.value.oid, bad.value.expected, bad.value.got) == (oid, oid, None)
    assert bad.value.key == pack_key(name)
    assert f"10 of its {entry.length} bytes" in str(bad.value)


def test_a_missing_object_raises_corrupt_object_found_nowhere(tmp_path):
    store = Store.open(str(tmp_path / "store"))
    store.create_repo("r")
    store.put_file("r@master:/a.txt", b"alpha")
    oid = hash_bytes(b"alpha")
    os.unlink(store.backend.path(object_key(oid)))

    with pytest.raises(CorruptObject, match="referenced but missing") as bad:
        store.get_file("r@master:/a.txt")

    assert (bad.value.oid, bad.value.got, bad.value.key) == (oid, None, None)


# ---------------------------------------------------------------- JobFailed and Unrunnable


def test_a_failed_job_raises_job_failed_holding_its_record_and_why_downstream_cannot_run(
    tmp_path,
):
    store = Store.open(str(tmp_path / "store"))
    store.create_repo("images")
    store.put_file("images@master:/a.png", b"AAA")
    gid = store.inspect_commit("images@master").id

    def broken(datum: Datum) -> None:
        raise ValueError("cannot read image")

    edges = PipelineSpec(name="edges", input=pfs("images"), fn=broken, datum_tries=1)
    with pytest.raises(JobFailed) as failed:
        run_job(store, edges, gid)

    assert failed.value.job.pipeline == failed.value.pipeline == "edges"
    assert failed.value.job_id == gid
    assert failed.value.state == JobState.FAILURE
    assert "cannot read image" in failed.value.reason
    assert str(failed.value).startswith(f"job edges@{gid} failure: ")

    montage = PipelineSpec(name="montage", input=pfs("edges", "/"), fn=lambda d: None)
    with pytest.raises(JobFailed) as unrunnable:
        run_job(store, montage, gid)

    assert unrunnable.value.state == JobState.UNRUNNABLE
    cause = unrunnable.value.__cause__
    assert isinstance(cause, Unrunnable)
    assert (cause.pipeline, cause.job_id, cause.failed) == ("montage", gid, ["edges"])
    assert unrunnable.value.reason == str(cause)


# ---------------------------------------------------------------- messages and pickling


def test_an_invalid_argument_names_the_value_and_what_would_be_valid(tmp_path):
    store = Store.open(str(tmp_path / "store"))
    store.create_repo("r")
    (tmp_path / "dir").mkdir()
    with pytest.raises(InvalidPath) as bad, store.commit("r@master") as c:
        c.put_file("/x", tmp_path / "dir", append=True)
    assert f"cannot append a directory ({tmp_path / 'dir'}) to '/x'" in str(bad.value)
    assert "append a file" in str(bad.value)


@pytest.mark.parametrize(
    "error",
    [
        Conflict("could not commit to 'r@master'", expected=4, got=5),
        CorruptObject("object a does not match its hash", oid="a" * 64, got="b" * 64, key="k"),
        Unrunnable(["edges"], pipeline="montage", job_id="c" * 32),
        errors.RepoNotFound("images"),
        errors.StorageUnavailableError("gave up", operation="read", key="k", attempts=5),
    ],
    ids=lambda e: type(e).__name__,
)
def test_errors_survive_pickling_with_their_data(error: VersionedError):
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert vars(copy) == vars(error)


def test_job_failed_survives_pickling_with_its_job(tmp_path):
    from dagster_versioned.pps.jobs import JobInfo

    job = JobInfo(pipeline="edges", id="d" * 32, created=now()).with_state(
        JobState.KILLED, "terminated by the user"
    )
    copy: Any = pickle.loads(pickle.dumps(JobFailed(job)))
    assert copy.job == job
    assert (copy.pipeline, copy.job_id, copy.state) == ("edges", "d" * 32, JobState.KILLED)
    assert str(copy) == f"job edges@{'d' * 32} killed: terminated by the user"
