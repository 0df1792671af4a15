"""The ``dv://`` fsspec filesystem: pandas reads any commit; a transaction writes one commit."""

import io
import subprocess
import sys
import uuid

import fsspec
import pandas as pd
import pytest

from dagster_versioned.errors import InvalidPath, InvalidRef
from dagster_versioned.store import Store
from dagster_versioned.store.fs import VersionedFileSystem
from dagster_versioned.store.location import STORAGE_ENV

CSV_V1 = b"x,y\n1,2\n"
CSV_V2 = b"x,y\n1,2\n3,4\n"


@pytest.fixture
def images(dv):
    """Repo ``images`` with two commits on master: a.csv (v1), then a.csv (v2) and sub/b.txt."""
    dv.store.create_repo("images")
    dv.store.put_file("images@master:/a.csv", CSV_V1)
    with dv.store.commit("images@master") as c:
        c.put_file("/a.csv", CSV_V2)
        c.put_file("/sub/b.txt", b"hello")
    return dv


def dvfs(dv) -> VersionedFileSystem:
    return fsspec.filesystem("dv", **dv.fs_options)


def test_the_dv_protocol_is_registered_through_the_fsspec_entry_point():
    assert fsspec.get_filesystem_class("dv") is VersionedFileSystem


def test_pandas_reads_a_csv_at_a_branch_an_ancestor_and_a_commit_id(images):
    first = images.store.list_commit("images@master")[-1].id
    options = images.fs_options

    head = pd.read_csv("dv://images@master/a.csv", storage_options=options)
    parent = pd.read_csv("dv://images@master^1/a.csv", storage_options=options)
    by_id = pd.read_csv(f"dv://images@{first}/a.csv", storage_options=options)

    assert head["y"].tolist() == [2, 4]
    assert parent["y"].tolist() == [2]
    assert by_id["y"].tolist() == [2]


def test_ls_info_glob_and_find_describe_one_commit(images):
    fs = dvfs(images)

    assert fs.ls("dv://images@master", detail=False) == ["images@master/a.csv", "images@master/sub"]
    assert fs.ls("dv://images@master^1", detail=False) == ["images@master^1/a.csv"]
    info = fs.info("dv://images@master/sub/b.txt")
    assert (info["type"], info["size"]) == ("file", 5)
    assert info["commit"] == images.store.inspect_commit("images@master").id
    assert fs.info("dv://images@master/sub")["type"] == "directory"
    assert fs.glob("dv://images@master/**/*.txt") == ["images@master/sub/b.txt"]
    assert fs.find("dv://images@master") == ["images@master/a.csv", "images@master/sub/b.txt"]
    assert fs.find("dv://images@master", maxdepth=1) == ["images@master/a.csv"]


def test_the_top_level_lists_every_repo_at_every_branch(images):
    images.store.create_branch("images@dev")

    assert dvfs(images).ls("dv://", detail=False) == ["images@dev", "images@master"]


def test_a_repo_without_ref_means_master_and_pachctl_colon_paths_are_accepted(images):
    fs = dvfs(images)

    assert fs.cat("dv://images/a.csv") == CSV_V2
    assert fs.cat("dv://images@master:/sub/b.txt") == b"hello"


def test_missing_things_raise_file_not_found(images):
    fs = dvfs(images)

    for path in ("dv://images@master/nope", "dv://nope@master/a", "dv://images@nobranch/a.csv"):
        with pytest.raises(FileNotFoundError):
            fs.cat(path)
        assert not fs.exists(path)


@pytest.mark.parametrize(
    "path",
    [
        "dv://images@master/../../dagster_versioned.json",
        "dv://images@master/sub/../../../x",
        "dv://../repos/images@master/a.csv",
        "dv://images@master/./a.csv",
    ],
)
def test_paths_never_escape_a_commit_or_the_store(images, path):
    with pytest.raises((InvalidPath, InvalidRef)):
        dvfs(images).cat(path)


def test_random_access_reads_across_chunk_boundaries(local_dv):
    store = local_dv.store
    store.create_repo("big")
    parts = [bytes([i]) * (1000 + i) for i in range(5)]
    for i, part in enumerate(parts):  # appends make a file of 5 chunks of different sizes
        store.put_file("big@master:/f.bin", part, append=i > 0)
    whole = b"".join(parts)

    with dvfs(local_dv).open("dv://big@master/f.bin", "rb", block_size=700) as f:
        f.seek(2500)
        middle = f.read(2000)
        f.seek(-10, 2)
        tail = f.read()

    assert middle == whole[2500:4500]
    assert tail == whole[-10:]


def test_a_transaction_writes_one_commit_with_every_file(images):
    fs = dvfs(images)
    options = images.fs_options
    frame = pd.DataFrame({"a": [1, 2, 3]})
    before = len(images.store.list_commit("images@master"))

    with fs.transaction:
        frame.to_parquet("dv://images@master/t.parquet", storage_options=options)
        frame.to_csv("dv://images@master/t.csv", storage_options=options, index=False)
        fs.rm("dv://images@master/sub", recursive=True)

    commits = images.store.list_commit("images@master")
    assert len(commits) == before + 1
    assert pd.read_parquet("dv://images@master/t.parquet", storage_options=options).equals(frame)
    assert fs.cat("dv://images@master/t.csv") == b"a\n1\n2\n3\n"
    assert not fs.exists("dv://images@master/sub/b.txt")


def test_pandas_writes_join_the_transaction_even_when_skipping_the_instance_cache(local_dv):
    # s3fs users pass skip_instance_cache=True; pandas then builds its own filesystem, which
    # must still be the one holding the transaction (regression: three commits instead of one).
    local_dv.store.create_repo("t")
    options = {**local_dv.fs_options, "skip_instance_cache": True}
    fs = fsspec.filesystem("dv", **options)

    with fs.transaction:
        pd.DataFrame({"a": [1]}).to_csv("dv://t@master/a.csv", storage_options=options)
        pd.DataFrame({"b": [2]}).to_csv("dv://t@master/b.csv", storage_options=options)

    assert len(local_dv.store.list_commit("t@master")) == 1


def test_a_transaction_over_two_repos_makes_one_commit_each_with_one_id(images):
    images.store.create_repo("other")
    fs = dvfs(images)

    with fs.transaction:
        fs.pipe("dv://images@master/x", b"1")
        fs.pipe("dv://other@master/y", b"2")

    a = images.store.inspect_commit("images@master")
    b = images.store.inspect_commit("other@master")
    assert a.id == b.id
    assert {c.repo for c in images.store.list_commit_set(a.id)} == {"images", "other"}


def test_a_transaction_that_raises_commits_nothing(images):
    fs = dvfs(images)
    head = images.store.inspect_commit("images@master").id

    def write_then_fail():
        with fs.transaction:
            fs.pipe("dv://images@master/x", b"1")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_then_fail()

    assert images.store.inspect_commit("images@master").id == head
    assert not fs._intrans


def test_each_file_written_outside_a_transaction_is_its_own_commit(images):
    fs = dvfs(images)
    before = len(images.store.list_commit("images@master"))

    with fs.open("dv://images@master/one.txt", "wb") as f:
        f.write(b"1")
    with fs.open("dv://images@master/one.txt", "ab") as f:
        f.write(b"2")

    assert len(images.store.list_commit("images@master")) == before + 2
    assert fs.cat("dv://images@master/one.txt") == b"12"


def test_writing_to_a_commit_or_an_ancestor_is_refused(images):
    fs = dvfs(images)
    head = images.store.inspect_commit("images@master").id

    for path in (f"dv://images@{head}/x", "dv://images@master^1/x"):
        with pytest.raises(InvalidRef, match="read-only"):
            fs.pipe(path, b"x")


def test_writing_to_a_missing_repo_asks_for_mkdir_which_creates_it(dv):
    fs = dvfs(dv)

    with pytest.raises(FileNotFoundError, match="'results'"):
        fs.pipe("dv://results@master/a", b"1")
    fs.mkdir("dv://results")
    fs.pipe("dv://results@master/a", b"1")

    assert dv.store.get_file("results@master:/a") == b"1"


def test_without_a_storage_option_the_dvctl_default_is_used(tmp_path, monkeypatch):
    url = str(tmp_path / f"env-store-{uuid.uuid4().hex}")
    store = Store.open(url)
    store.create_repo("r")
    store.put_file("r@master:/f", b"from env")
    monkeypatch.setenv(STORAGE_ENV, url)

    with fsspec.open("dv://r@master/f", "rb") as f:
        assert f.read() == b"from env"


def test_pandas_writes_through_the_default_storage_of_the_working_directory(tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "deep" / "er").mkdir(parents=True)
    store = Store.open(str(project / ".dagster_versioned"))
    store.create_repo("r")
    monkeypatch.delenv(STORAGE_ENV, raising=False)
    monkeypatch.chdir(project / "deep" / "er")

    pd.DataFrame({"a": [1]}).to_csv("dv://r@master/a.csv", index=False)

    assert io.BytesIO(store.get_file("r@master:/a.csv")).read() == b"a\n1\n"


def test_the_filesystem_works_without_dagster_installed():
    # dv:// belongs to the store layer: reading a commit must never import Dagster.
    code = (
        "import sys; sys.modules['dagster'] = None\n"
        "import fsspec\n"
        "fs = fsspec.filesystem('dv', storage='memory://no-dagster')\n"
        "fs.store.create_repo('r'); fs.pipe('dv://r@master/a', b'1')\n"
        "assert fs.cat('dv://r/a') == b'1'\n"
        "assert not any(m == 'dagster' or m.startswith('dagster.') for m in sys.modules"
        " if sys.modules[m] is not None)\n"
    )

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)

    assert done.returncode == 0, done.stderr
