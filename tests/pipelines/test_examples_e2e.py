"""Specs in the shape of Pachyderm's published examples run end to end and write what it would.

The spec files and programs are ours (``tests/pipelines/examples/``); ``bin/`` stands in for an
image's programs and goes first on ``PATH``, which is how docs/migrating.md says to run an
image's command without the image. Programs that hard-code ``/pfs`` (``edges``, ``zipjoin``)
need a mount namespace; in rewrite mode they must fail their datum loudly, never succeed empty.
Shell in ``cmd``/``stdin`` runs in both modes.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dagster_versioned.errors import JobFailed
from dagster_versioned.pps import sandbox
from dagster_versioned.pps.cron import commit_due_ticks
from dagster_versioned.pps.inputs import cron_inputs
from dagster_versioned.pps.jobs import JobStore
from dagster_versioned.pps.runner import run_job
from dagster_versioned.pps.spec import PipelineSpec, load_spec_file, load_spec_files
from dagster_versioned.store import Store

EXAMPLES = Path(__file__).parent / "examples"
NAMESPACES = [m for m in ("unshare", "bwrap") if sandbox._tool_works(m)]
needs_namespace = pytest.mark.skipif(not NAMESPACES, reason="no bwrap or unshare -Urm here")


@pytest.fixture(autouse=True)
def image_programs_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{EXAMPLES / 'bin'}{os.pathsep}{os.environ['PATH']}")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(str(tmp_path / "store"))


@pytest.fixture(params=[*NAMESPACES, "rewrite"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(sandbox.ENV_VAR, request.param)
    return str(request.param)


def spec(name: str) -> PipelineSpec:
    return load_spec_file(EXAMPLES / name)


def fill(store: Store, repo: str, files: dict[str, bytes]) -> str:
    """One commit holding ``files``; returns its global id."""
    store.create_repo(repo)
    with store.commit(f"{repo}@master") as c:
        for path, data in files.items():
            c.put_file(path, data)
    return store.inspect_commit(f"{repo}@master").id


def tree(store: Store, ref: str) -> dict[str, bytes]:
    """Every file of ``ref`` with its content."""
    return {
        f.path: store.get_file(f"{ref}:{f.path}")
        for f in store.walk_file(f"{ref}:/")
        if f.type == "file"
    }


IMAGES = {"/a.txt": b"abc", "/b.txt": b"xyz"}
EDGES = {"/a.png": b"edges:cba", "/b.png": b"edges:zyx"}


@needs_namespace
def test_edges_then_montage_as_in_the_opencv_example(store: Store) -> None:
    gid = fill(store, "images", IMAGES)
    run_job(store, spec("edges.json"), gid)
    assert tree(store, "edges@master") == EDGES
    run_job(store, spec("montage.yaml"), gid)
    # find ... | sort: /pfs/edges/a.png, /pfs/edges/b.png, /pfs/images/a.txt, /pfs/images/b.txt
    assert tree(store, f"montage@{gid}") == {"/montage.png": b"edges:cbaedges:zyxabcxyz"}


def test_edges_hard_coding_pfs_fails_loudly_in_rewrite_mode(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(sandbox.ENV_VAR, "rewrite")
    gid = fill(store, "images", IMAGES)
    with pytest.raises(JobFailed) as failed:
        run_job(store, spec("edges.json"), gid)
    assert "hard-codes /pfs" in failed.value.job.reason
    assert failed.value.job.data_failed == 2


def test_montage_over_find_of_pfs_runs_in_every_mode(store: Store, mode: str) -> None:
    gid = fill(store, "images", IMAGES)
    store.create_repo("edges")
    with store.commit("edges@master", commit_id=gid) as c:
        for path, data in EDGES.items():
            c.put_file(path, data)
    run_job(store, spec("montage.yaml"), gid)
    assert tree(store, "montage@master") == {"/montage.png": b"edges:cbaedges:zyxabcxyz"}


def test_word_count_maps_per_datum_folder_and_reduces_to_totals(store: Store, mode: str) -> None:
    gid = fill(
        store,
        "pages",
        {"/site1/index.txt": b"The cat, the hat.", "/site2/index.txt": b"the dog"},
    )
    mapper, reducer = load_spec_files(EXAMPLES / "word_count.json")
    run_job(store, mapper, gid)
    datums = {d.files[0].rsplit(":", 1)[1]: d.id for d in JobStore(store).load_datums("map", gid)}
    one, two = datums["/site1/index.txt"], datums["/site2/index.txt"]
    assert tree(store, "map@master") == {
        f"/{one}/the": b"2\n",
        f"/{one}/cat": b"1\n",
        f"/{one}/hat": b"1\n",
        f"/{two}/the": b"1\n",
        f"/{two}/dog": b"1\n",
    }
    run_job(store, reducer, gid)
    assert tree(store, "reduce@master") == {
        "/cat": b"1\n",
        "/dog": b"1\n",
        "/hat": b"1\n",
        "/the": b"3\n",
    }


def store_record(number: int, zipcode: str) -> bytes:
    return f'{{"storeid": {number}, "name": "Shop{number}", "zipcode": "{zipcode}"}}'.encode()


@pytest.fixture
def retail(store: Store) -> str:
    fill(
        store,
        "stores",
        {"/STOREID1.txt": store_record(1, "11111"), "/STOREID2.txt": store_record(2, "22222")},
    )
    fill(
        store,
        "purchases",
        {"/P1_STOREID1.txt": b"sku1\n", "/P2_STOREID1.txt": b"sku2\n", "/P3_STOREID3.txt": b"x\n"},
    )
    return fill(store, "returns", {"/R1_STOREID2.txt": b"sku9\n", "/R2_STOREID4.txt": b"sku8\n"})


@needs_namespace
def test_an_inner_join_crosses_the_files_of_each_key_and_drops_the_unmatched(
    store: Store, retail: str
) -> None:
    job = run_job(store, spec("inner_join.json"), retail)
    assert job.data_total == 2  # store 1 x {P1, P2}; store 2 and purchase P3 have no partner
    assert tree(store, "inner_join@master") == {
        "/11111/P1_STOREID1.txt": b"store 1: Shop1\nsku1\n",
        "/11111/P2_STOREID1.txt": b"store 1: Shop1\nsku2\n",
    }


@needs_namespace
def test_an_outer_join_keeps_unmatched_files_of_both_sides(store: Store, retail: str) -> None:
    job = run_job(store, spec("outer_join.yaml"), retail)
    assert job.data_total == 3
    assert tree(store, "outer_join@master") == {
        "/11111/STOREID1.txt": b"store 1: Shop1\n",  # a store with no returns
        "/22222/R1_STOREID2.txt": b"store 2: Shop2\nsku9\n",
        "/UNKNOWN/R2_STOREID4.txt": b"no such store\nsku8\n",  # PACH_DATUM_stores_JOIN_ON unset
    }


def test_group_by_puts_each_patients_results_in_its_folder(store: Store, mode: str) -> None:
    gid = fill(
        store,
        "labresults",
        {
            "/T1-PATID1-A.txt": b"a1",
            "/T2-PATID1-B.txt": b"b1",
            "/T3-PATID2-A.txt": b"a2",
            "/notes.txt": b"matches no glob",
        },
    )
    job = run_job(store, spec("group_by_patient.yaml"), gid)
    assert job.data_total == 2
    assert tree(store, "group_by_patient@master") == {
        "/1/T1-PATID1-A.txt": b"a1",
        "/1/T2-PATID1-B.txt": b"b1",
        "/2/T3-PATID2-A.txt": b"a2",
    }


def test_shuffle_stores_links_to_empty_file_inputs_by_reference(store: Store, mode: str) -> None:
    fill(store, "fruits", {"/apple.jpeg": b"APPLE", "/banana.jpeg": b"BANANA"})
    gid = fill(store, "pricing", {"/apple.json": b'{"cost": 1}'})
    job = run_job(store, spec("shuffle.json"), gid)
    assert job.data_total == 3
    assert tree(store, "shuffle@master") == {  # real contents, though /pfs held empty files
        "/apple/cost.json": b'{"cost": 1}',
        "/apple/img.jpeg": b"APPLE",
        "/banana/img.jpeg": b"BANANA",
    }
    linked, _ = store.lookup_entry("shuffle@master:/banana/img.jpeg")
    source, _ = store.lookup_entry("fruits@master:/banana.jpeg")
    assert linked.chunks == source.chunks
    assert job.stats.upload_bytes == 0  # nothing was read back or stored again


def test_a_cron_pipeline_runs_once_per_tick_commit_with_its_global_id(
    store: Store, mode: str
) -> None:
    ticker = spec("ticker.yaml")
    (tick,) = cron_inputs(ticker.input)
    assert tick.repo == "ticker_tick"
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    first, second = commit_due_ticks(store, tick, t0 + timedelta(minutes=2))
    run_job(store, ticker, first.id)
    job = run_job(store, ticker, second.id)
    assert (job.data_processed, job.data_skipped) == (1, 1)  # ticks accumulate: one new datum
    assert store.inspect_commit(f"ticker@{second.id}").id == second.id
    assert tree(store, f"ticker@{first.id}") == {
        "/2024-01-01T00:01:00Z": b"seen 2024-01-01T00:01:00Z\n"
    }
    assert tree(store, "ticker@master") == {
        "/2024-01-01T00:01:00Z": b"seen 2024-01-01T00:01:00Z\n",
        "/2024-01-01T00:02:00Z": b"seen 2024-01-01T00:02:00Z\n",
    }
