"""Nothing crosses a boundary it should not: downloads stay in their destination, uploads stay
in their source directory, ``dv://`` stays in its store, commands run without a shell, and
credentials never reach an error message."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

from dagster_versioned.cli.main import load_commands
from dagster_versioned.errors import InvalidPath, JobFailed, VersionedError
from dagster_versioned.pps.inputs import pfs
from dagster_versioned.pps.runner import run_job
from dagster_versioned.pps.spec import PipelineSpec
from dagster_versioned.store import Store
from dagster_versioned.store.credentials import redact_url
from dagster_versioned.store.fs import VersionedFileSystem

SECRET = "s3cr3tPassw0rd"


def dvctl(storage: str, *args: str) -> Result:
    return CliRunner().invoke(load_commands(), ["--storage", storage, *args])


def files_below(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.open(str(tmp_path / "store"))
    s.create_repo("data")
    s.put_file("data@master:/dir/a.txt", b"alpha")
    return s


# ---------------------------------------------------------------- get file -r


@pytest.mark.parametrize("path", ["/../escape", "/d/../../escape", "/./x", "/a/..", "//x"])
def test_a_repo_path_with_dot_segments_cannot_be_written(store, path):
    with pytest.raises(InvalidPath):
        store.put_file(f"data@master:{path}", b"evil")
    with pytest.raises(InvalidPath), store.commit("data@master") as c:
        c.put_file(path, b"evil")


@pytest.mark.parametrize("path", ["/../escape.txt", "/d/../../escape.txt", "/ok/../../escape.txt"])
def test_get_file_r_refuses_a_hostile_tree_that_would_write_outside_the_destination(
    store, tmp_path, path
):
    """A tree written by something other than this code (a tampered store) holds a '..' entry."""
    oid = store.objects.put(b"evil")
    with store.commit("data@evil") as c:
        c._sink({"op": "put", "path": path, "chunks": [oid], "size": 4})  # bypasses the checks
    before = files_below(tmp_path)
    result = dvctl(
        str(tmp_path / "store"),
        "get",
        "file",
        "-r",
        "data@evil:/",
        "-o",
        str(tmp_path / "out" / "dest"),
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("error: refusing to write")
    assert files_below(tmp_path) - before <= {"out", "out/dest", "out/dest/ok", "out/dest/d"}
    assert not any(p.name == "escape.txt" for p in tmp_path.rglob("*"))


def test_get_file_r_replaces_a_symlink_planted_in_the_destination_instead_of_following_it(
    store, tmp_path
):
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "dir").symlink_to(outside)
    result = dvctl(str(tmp_path / "store"), "get", "file", "-r", "data@master:/", "-o", str(dest))
    assert result.exit_code == 0, result.stderr
    assert list(outside.iterdir()) == []
    assert not (dest / "dir").is_symlink()
    assert (dest / "dir" / "a.txt").read_bytes() == b"alpha"


def test_get_file_r_writes_the_whole_tree_inside_the_destination(store, tmp_path):
    out = tmp_path / "out"
    result = dvctl(str(tmp_path / "store"), "get", "file", "-r", "data@master:/", "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert files_below(out) == {"dir", "dir/a.txt"}
    assert (out / "dir" / "a.txt").read_bytes() == b"alpha"


# ---------------------------------------------------------------- put file -r


def test_put_file_r_does_not_follow_symlinks_out_of_the_source_directory(store, tmp_path):
    outside = tmp_path / "outside"
    (outside / "sub").mkdir(parents=True)
    (outside / "secret.txt").write_text(SECRET)
    (outside / "sub" / "deep.txt").write_text(SECRET)
    src = tmp_path / "src"
    src.mkdir()
    (src / "mine.txt").write_text("mine")
    (src / "file-link").symlink_to(outside / "secret.txt")
    (src / "dir-link").symlink_to(outside)
    (src / "inner-link").symlink_to(src / "mine.txt")
    result = dvctl(str(tmp_path / "store"), "put", "file", "-r", "data@up:/", "-f", str(src))
    assert result.exit_code == 0, result.stderr
    stored = {f.path: store.get_file(f"data@up:{f.path}") for f in store.walk_file("data@up")
              if f.type == "file"}  # fmt: skip
    assert SECRET.encode() not in stored.values()
    assert stored["/mine.txt"] == b"mine"
    assert all(v == b"mine" for v in stored.values()), stored


# ---------------------------------------------------------------- dv://


@pytest.mark.parametrize(
    "path",
    [
        "dv://../sentinel.txt",
        "dv://../../sentinel.txt",
        "dv://data@master/../../sentinel.txt",
        "dv://data@master/../../../sentinel.txt",
        "dv://data/../../sentinel.txt",
        "dv://data@master:/../../sentinel.txt",
        "dv://..@master/sentinel.txt",
        "dv://data@../../sentinel.txt",
        "dv://data@master/%2e%2e/%2e%2e/sentinel.txt",
        "dv://data@master/\x00/sentinel.txt",
        "dv:///etc/passwd",
    ],
)
def test_dv_paths_cannot_reach_outside_the_store_root(store, tmp_path, path):
    (tmp_path / "sentinel.txt").write_text(SECRET)
    fs = VersionedFileSystem(storage=str(tmp_path / "store"), skip_instance_cache=True)
    outside = {p for p in files_below(tmp_path) if not p.startswith("store")}
    try:
        data = fs.cat_file(path)
    except (VersionedError, FileNotFoundError):
        pass
    else:
        assert SECRET.encode() not in data
    try:
        fs.pipe_file(path, b"evil")
    except (VersionedError, FileNotFoundError):
        pass
    else:  # a write that succeeds lands in a repo, under a literal name such as '%2e%2e'
        assert fs.cat_file(path) == b"evil"
        assert b"evil" in [store.get_file(f"data@master:{f.path}") for f in
                           store.walk_file("data@master") if f.type == "file"]  # fmt: skip
    assert {p for p in files_below(tmp_path) if not p.startswith("store")} == outside


# ---------------------------------------------------------------- transform.cmd


WRITE_ARGV = "import os, sys; open(os.environ['PFS_OUT'] + '/argv', 'w').write(sys.argv[1])"


def test_transform_cmd_runs_without_a_shell(store, tmp_path):
    marker = tmp_path / "x"
    hostile = f"hello; touch {marker} && echo $(touch {marker})"
    spec = PipelineSpec(
        name="noshell", input=pfs("data", "/"), cmd=(sys.executable, "-c", WRITE_ARGV, hostile)
    )
    run_job(store, spec, store.inspect_commit("data@master").id)
    assert store.get_file("noshell@master:/argv") == hostile.encode()
    assert not marker.exists()


def test_a_shell_line_given_as_one_cmd_word_is_not_run_by_a_shell(store, tmp_path):
    marker = tmp_path / "x"
    spec = PipelineSpec(
        name="oneword", input=pfs("data", "/"), cmd=(f"true; touch {marker}",), datum_tries=1
    )
    with contextlib.suppress(JobFailed):  # failing is fine: nothing named that can run
        run_job(store, spec, store.inspect_commit("data@master").id)
    assert not marker.exists()


# ---------------------------------------------------------------- credentials


@pytest.mark.parametrize(
    "url",
    [
        f"http://user:{SECRET}@127.0.0.1:9/store",
        f"https://user:{SECRET}@127.0.0.1:9/store",
        f"nosuchproto://key:{SECRET}@bucket/store",
        f"ftp://user:{SECRET}@127.0.0.1:9/store",
    ],
)
def test_a_storage_url_with_credentials_never_appears_in_an_error(url):
    with pytest.raises(VersionedError) as caught:
        Store.open(url)
    assert SECRET not in str(caught.value)
    result = dvctl(url, "list", "repo")
    assert result.exit_code == 1
    assert SECRET not in result.output + result.stderr
    assert result.stderr.startswith("error: ")


@pytest.mark.s3
def test_a_missing_s3_bucket_with_credentials_in_the_url_is_reported_without_them(
    s3_storage_options,
):
    options = {k: v for k, v in s3_storage_options.items() if k not in ("key", "secret")}
    with pytest.raises(VersionedError) as caught:
        Store.open(f"s3://testing:{SECRET}@no-such-bucket-dv/store", **options)
    assert SECRET not in str(caught.value)
    assert "no-such-bucket-dv" in str(caught.value)


@settings(max_examples=50)
@given(
    key=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=20),
    secret=st.text(alphabet="abcdefXYZ0123456789-_.~", min_size=8, max_size=40),
)
def test_redact_url_hides_any_url_safe_secret(key, secret):
    for scheme in ("s3", "http", "gcs"):
        redacted = redact_url(f"{scheme}://{key}:{secret}@bucket/prefix/x")
        assert secret not in redacted
        assert redacted.endswith("@bucket/prefix/x")


@pytest.mark.parametrize("secret", ["abc/def+ghiJKL", "p@ssw0rd-long", "a/b@c/d@e"])
def test_redact_url_hides_a_secret_holding_a_slash_or_an_at_sign(secret):
    """Regression: the secret used to be cut at its first '/' or '@', leaking the rest."""
    redacted = redact_url(f"s3://KEY:{secret}@bucket/x")
    assert redacted == "s3://***@bucket/x"


@pytest.mark.parametrize(
    "url", ["s3://bucket/x", "memory://dv-1", "/data/store", "s3://bucket/a@b", "file:///x"]
)
def test_redact_url_leaves_a_url_without_credentials_alone(url):
    assert redact_url(url) == url
