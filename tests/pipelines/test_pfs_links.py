"""Symlinks a command leaves in ``/pfs/out``.

Pachyderm's shuffle example links ``/pfs/out/...`` to input files instead of copying them: such
a link is stored by reference (the input's own entry, no byte read or written). A link to a
file inside ``out`` is stored by content; a link anywhere else fails the datum, naming the link
and its target — an output is never silently dropped.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dagster_versioned.errors import JobFailed
from dagster_versioned.pps import sandbox
from dagster_versioned.pps.inputs import pfs
from dagster_versioned.pps.runner import run_job
from dagster_versioned.pps.spec import PipelineSpec
from dagster_versioned.store import Store
from dagster_versioned.store.tree_nodes import Entry

MODES = [*(m for m in ("bwrap", "unshare") if sandbox._tool_works(m)), "rewrite"]


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(sandbox.ENV_VAR, request.param)
    return str(request.param)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.open(str(tmp_path / "store"))
    s.create_repo("fruits")
    s.put_file("fruits@master:/apple/img.png", b"apple bytes")
    s.put_file("fruits@master:/banana.png", b"banana bytes")
    return s


def entry(store: Store, ref: str) -> Entry:
    _, found = store.glob_entries(ref)
    assert len(found) == 1, found
    return found[0][1]


def written_blobs(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every blob the store is asked to put from now on."""
    blobs: list[bytes] = []
    put_many = store.objects.put_many

    def spy(batch: list[bytes]) -> list:
        blobs.extend(batch)
        return put_many(batch)

    monkeypatch.setattr(store.objects, "put_many", spy)
    return blobs


def shuffle(line: str, glob: str = "/*") -> PipelineSpec:
    return PipelineSpec(name="shuffle", input=pfs("fruits", glob=glob), cmd=("sh",), stdin=(line,))


def test_a_link_to_an_input_file_is_stored_by_reference(
    store: Store, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    blobs = written_blobs(store, monkeypatch)
    spec = shuffle("ln -s /pfs/fruits/banana.png /pfs/out/banana.png", glob="/banana.png")
    job = run_job(store, spec, store.inspect_commit("fruits@master").id)
    out = entry(store, "shuffle@master:/banana.png")
    assert out.chunks == entry(store, "fruits@master:/banana.png").chunks
    assert b"banana bytes" not in blobs  # nothing re-read and stored
    assert job.stats.upload_bytes == 0


def test_a_link_to_a_file_inside_a_directory_input_is_stored_by_reference(
    store: Store, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    blobs = written_blobs(store, monkeypatch)
    spec = shuffle(
        "mkdir /pfs/out/images && ln -s /pfs/fruits/apple/img.png /pfs/out/images/apple.png",
        glob="/apple",
    )
    run_job(store, spec, store.inspect_commit("fruits@master").id)
    out = entry(store, "shuffle@master:/images/apple.png")
    assert out.chunks == entry(store, "fruits@master:/apple/img.png").chunks
    assert b"apple bytes" not in blobs


def test_a_relative_link_inside_out_is_stored_by_content(store: Store, mode: str) -> None:
    spec = shuffle("echo made > /pfs/out/real && ln -s real /pfs/out/alias", glob="/banana.png")
    run_job(store, spec, store.inspect_commit("fruits@master").id)
    assert store.get_file("shuffle@master:/alias") == b"made\n"
    assert store.get_file("shuffle@master:/real") == b"made\n"


def test_an_absolute_link_into_out_is_stored_by_content(store: Store, mode: str) -> None:
    spec = shuffle("echo made > /pfs/out/real && ln -s /pfs/out/real /pfs/out/alias", "/banana.png")
    run_job(store, spec, store.inspect_commit("fruits@master").id)
    assert store.get_file("shuffle@master:/alias") == b"made\n"


def test_a_link_outside_the_datum_fails_the_job_naming_link_and_target(
    store: Store, mode: str
) -> None:
    spec = shuffle("ln -s /etc/passwd /pfs/out/secrets", glob="/banana.png")
    with pytest.raises(JobFailed) as failed:
        run_job(store, spec, store.inspect_commit("fruits@master").id)
    reason = failed.value.job.reason
    assert "'/secrets'" in reason
    assert "'/etc/passwd'" in reason


def test_a_dangling_link_fails_the_job_rather_than_vanishing(store: Store, mode: str) -> None:
    spec = shuffle("ln -s /pfs/out/nothing /pfs/out/broken", glob="/banana.png")
    with pytest.raises(JobFailed, match="broken"):
        run_job(store, spec, store.inspect_commit("fruits@master").id)
