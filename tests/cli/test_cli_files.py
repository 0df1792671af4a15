"""File commands: put from every kind of source, get to stdout/file/tree, list, glob, diff."""

from __future__ import annotations

import http.server
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from dagster_versioned.cli.app import UserError
from dagster_versioned.cli.transfer import ProgressReader, safe_target

from .helpers import Dv, header, parse_table


@pytest.fixture
def repo(dv: Dv) -> Dv:
    dv.ok("create", "repo", "data")
    return dv


def names(dv: Dv, ref: str) -> list[str]:
    return [r["NAME"] for r in parse_table(dv.ok("list", "file", ref))]


def test_put_file_without_a_path_uses_the_local_file_name(repo: Dv, tmp_path: Path) -> None:
    (tmp_path / "report.csv").write_text("a,b\n")
    repo.ok("put", "file", "data@master", "-f", str(tmp_path / "report.csv"))
    assert repo.store.get_file("data@master:/report.csv") == b"a,b\n"


def test_put_file_to_a_missing_branch_creates_it(repo: Dv, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"1")
    repo.ok("put", "file", "data@staging", "-f", str(tmp_path / "f"))
    assert [b.name for b in repo.store.list_branch("data")] == ["staging"]
    assert repo.store.inspect_commit("data@staging").origin.value == "USER"


def test_put_file_reads_stdin_by_default_and_with_dash(repo: Dv) -> None:
    repo.ok("put", "file", "data@master:/a", input=b"from stdin")
    repo.ok("put", "file", "data@master:/b", "-f", "-", input=b"dash")
    assert repo.store.get_file("data@master:/a") == b"from stdin"
    assert repo.store.get_file("data@master:/b") == b"dash"


def test_put_file_recursive_puts_a_directory_under_its_name_or_the_path(
    repo: Dv, tmp_path: Path
) -> None:
    src = tmp_path / "dir"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("a")
    (src / "sub" / "b.txt").write_text("bb")
    repo.ok("put", "file", "-r", "data@master", "-f", str(src))
    repo.ok("put", "file", "-r", "data@master:/path", "-f", str(src))
    assert repo.store.get_file("data@master:/dir/sub/b.txt") == b"bb"
    assert repo.store.get_file("data@master:/path/a.txt") == b"a"
    assert len(repo.store.list_commit("data@master")) == 2  # one commit per command


def test_put_file_of_a_directory_needs_recursive(repo: Dv, tmp_path: Path) -> None:
    assert "use -r" in repo.error("put", "file", "data@master", "-f", str(tmp_path))


def test_put_file_with_several_sources_lands_them_in_one_commit_under_the_path(
    repo: Dv, tmp_path: Path
) -> None:
    for name in ("x", "y"):
        (tmp_path / name).write_text(name)
    repo.ok("put", "file", "data@master:/in", "-f", str(tmp_path / "x"), "-f", str(tmp_path / "y"))
    assert names(repo, "data@master:/in") == ["/in/x", "/in/y"]
    assert len(repo.store.list_commit("data@master")) == 1


def test_put_file_to_a_path_ending_in_slash_keeps_the_file_name(repo: Dv, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("n")
    repo.ok("put", "file", "data@master:/docs/", "-f", str(tmp_path / "notes.txt"))
    repo.ok("put", "file", "data@master:/exact", "-f", str(tmp_path / "notes.txt"))
    assert names(repo, "data@master") == ["/docs/", "/exact"]
    assert names(repo, "data@master:/docs") == ["/docs/notes.txt"]


def test_put_file_append_extends_the_file(repo: Dv) -> None:
    repo.ok("put", "file", "data@master:/log", input=b"one\n")
    repo.ok("put", "file", "data@master:/log", "--append", input=b"two\n")
    assert repo.store.get_file("data@master:/log") == b"one\ntwo\n"


def test_put_file_reads_any_fsspec_url(repo: Dv, tmp_path: Path) -> None:
    (tmp_path / "remote.bin").write_bytes(b"via fsspec")
    repo.ok("put", "file", "data@master", "-f", f"file://{tmp_path}/remote.bin")
    assert repo.store.get_file("data@master:/remote.bin") == b"via fsspec"


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A static HTTP server on 127.0.0.1 serving a temporary directory."""
    root = tmp_path / "www"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[misc, arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


def test_put_file_streams_an_http_url(repo: Dv, http_root: tuple[str, Path]) -> None:
    url, root = http_root
    payload = os.urandom(3 * 1024 * 1024 + 17)
    (root / "example.png").write_bytes(payload)
    repo.ok("put", "file", "data@master", "-f", f"{url}/example.png")
    repo.ok("put", "file", "data@master:/img/copy.png", "-f", f"{url}/example.png")
    assert repo.store.get_file("data@master:/example.png") == payload
    assert repo.store.get_file("data@master:/img/copy.png") == payload


def test_put_file_from_a_missing_url_is_an_error(repo: Dv, http_root: tuple[str, Path]) -> None:
    url, _ = http_root
    message = repo.error("put", "file", "data@master", "-f", f"{url}/missing.bin")
    assert "cannot read" in message
    assert "missing.bin" in message
    assert repo.store.list_branch("data") == []  # nothing was committed


def test_put_file_into_an_open_commit_by_branch_or_id(repo: Dv) -> None:
    commit_id = repo.ok("start", "commit", "data@master").strip()
    repo.ok("put", "file", "data@master:/a", input=b"a")
    repo.ok("put", "file", f"data@{commit_id}:/b", input=b"b")
    repo.ok("finish", "commit", "data@master")
    assert names(repo, "data@master") == ["/a", "/b"]
    assert [c.id for c in repo.store.list_commit("data@master")] == [commit_id]


def test_get_file_writes_to_stdout_or_to_an_output_path(repo: Dv, tmp_path: Path) -> None:
    payload = bytes(range(256)) * 10
    repo.ok("put", "file", "data@master:/dir/blob", input=payload)
    run = repo("get", "file", "data@master:/dir/blob")
    assert run.exit_code == 0
    assert run.stdout_bytes == payload
    repo.ok("get", "file", "data@master:/dir/blob", "-o", str(tmp_path / "out.bin"))
    assert (tmp_path / "out.bin").read_bytes() == payload
    repo.ok("get", "file", "data@master:dir/blob", "-o", str(tmp_path))  # into a directory
    assert (tmp_path / "blob").read_bytes() == payload


def test_get_file_of_an_ancestor_reads_the_old_content(repo: Dv) -> None:
    repo.ok("put", "file", "data@master:/f", input=b"v1")
    repo.ok("put", "file", "data@master:/f", input=b"v2")
    assert repo("get", "file", "data@master^:/f").stdout_bytes == b"v1"
    assert repo("get", "file", "data@master:/f").stdout_bytes == b"v2"


def test_get_file_recursive_writes_the_tree_below_the_output_directory(
    repo: Dv, tmp_path: Path
) -> None:
    repo.ok("put", "file", "data@master:/d/a.txt", input=b"a")
    repo.ok("put", "file", "data@master:/d/sub/b.txt", input=b"b")
    repo.ok("put", "file", "data@master:/other.txt", input=b"o")
    repo.ok("get", "file", "data@master:/d", "-r", "-o", str(tmp_path / "out"))
    files = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*"))
    assert files == ["a.txt", "sub", "sub/b.txt"]
    repo.ok("get", "file", "data@master:/", "-r", "-o", str(tmp_path / "all"))
    assert (tmp_path / "all" / "d" / "sub" / "b.txt").read_bytes() == b"b"
    assert (tmp_path / "all" / "other.txt").read_bytes() == b"o"


def test_get_file_recursive_replaces_symlinks_instead_of_writing_through_them(
    repo: Dv, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "sub").symlink_to(outside, target_is_directory=True)
    (dest / "f").symlink_to(outside / "victim")
    repo.ok("put", "file", "data@master:/f", input=b"safe")
    repo.ok("put", "file", "data@master:/sub/x", input=b"x")
    repo.ok("get", "file", "data@master:/", "-r", "-o", str(dest))
    assert list(outside.iterdir()) == []  # nothing written outside the destination
    assert (dest / "f").read_bytes() == b"safe"
    assert (dest / "sub" / "x").read_bytes() == b"x"
    assert not (dest / "f").is_symlink()
    assert not (dest / "sub").is_symlink()


def test_get_file_recursive_refuses_a_destination_parent_that_leads_outside(
    repo: Dv, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "sub").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UserError, match="leads outside"):
        safe_target(dest, "sub/x")
    assert list(outside.iterdir()) == []


def test_safe_target_refuses_parent_segments(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="leave the output directory"):
        safe_target(tmp_path, "a/../../etc/passwd")
    assert safe_target(tmp_path, "a/b") == tmp_path / "a" / "b"


def test_list_file_shows_name_type_size_with_directories_ending_in_slash(repo: Dv) -> None:
    repo.ok("put", "file", "data@master:/dir/a", input=b"a" * 1500)
    repo.ok("put", "file", "data@master:/top", input=b"t")
    out = repo.ok("list", "file", "data@master")
    assert header(out) == ["NAME", "TYPE", "SIZE"]
    assert parse_table(out) == [
        {"NAME": "/dir/", "TYPE": "dir", "SIZE": "1.465KiB"},
        {"NAME": "/top", "TYPE": "file", "SIZE": "1B"},
    ]
    assert names(repo, "data@master:/dir") == ["/dir/a"]
    assert names(repo, "data@master:/top") == ["/top"]


def test_list_file_raw_prints_pachyderm_file_info(repo: Dv) -> None:
    repo.ok("put", "file", "data@master:/dir/a", input=b"abc")
    head = repo.store.inspect_commit("data@master")
    records = [json.loads(x) for x in repo.ok("list", "file", "data@master", "--raw").splitlines()]
    (record,) = records
    assert record["file"] == {
        "commit": {
            "branch": {"repo": {"name": "data", "type": "user"}, "name": "master"},
            "id": head.id,
        },
        "path": "/dir/",
    }
    assert record["file_type"] == "DIR"
    assert record["size_bytes"] == "3"
    assert record["hash"]  # base64 of the content hash
    inner = json.loads(repo.ok("inspect", "file", "data@master:/dir/a", "--raw"))
    assert inner["file_type"] == "FILE"
    assert inner["file"]["path"] == "/dir/a"


def test_inspect_file_prints_path_type_and_size(repo: Dv) -> None:
    repo.ok("put", "file", "data@master:/a", input=b"abc")
    assert repo.ok("inspect", "file", "data@master:/a") == "Path: /a\nType: file\nSize: 3B\n"


def test_glob_file_lists_matching_paths(repo: Dv) -> None:
    for path in ("/A1", "/A2", "/B1", "/data/x", "/data/y"):
        repo.ok("put", "file", f"data@master:{path}", input=b"z")
    assert [r["NAME"] for r in parse_table(repo.ok("glob", "file", "data@master:A*"))] == [
        "/A1",
        "/A2",
    ]
    out = repo.ok("glob", "file", "data@master:/data/*")
    assert [r["NAME"] for r in parse_table(out)] == ["/data/x", "/data/y"]
    assert repo.ok("glob", "file", "data@master:/nothing*") == "NAME TYPE SIZE\n"


def test_diff_file_lists_added_removed_and_changed_files(repo: Dv) -> None:
    repo.ok("put", "file", "data@master:/keep", input=b"k")
    repo.ok("put", "file", "data@master:/gone", input=b"g")
    repo.ok("put", "file", "data@master:/changed", input=b"old")
    repo.ok("start", "commit", "data@master")
    repo.ok("delete", "file", "data@master:/gone")
    repo.ok("put", "file", "data@master:/changed", input=b"newer")
    repo.ok("put", "file", "data@master:/added", input=b"aa")
    repo.ok("finish", "commit", "data@master")
    out = repo.ok("diff", "file", "data@master")
    assert header(out) == ["OP", "NAME", "TYPE", "SIZE"]
    assert parse_table(out) == [
        {"OP": "+", "NAME": "/added", "TYPE": "file", "SIZE": "2B"},
        {"OP": "+", "NAME": "/changed", "TYPE": "file", "SIZE": "5B"},
        {"OP": "-", "NAME": "/changed", "TYPE": "file", "SIZE": "3B"},
        {"OP": "-", "NAME": "/gone", "TYPE": "file", "SIZE": "1B"},
    ]
    two = repo.ok("diff", "file", "data@master:/added", "data@master^:/keep")
    assert [(r["OP"], r["NAME"]) for r in parse_table(two)] == [("+", "/added"), ("-", "/added")]


def test_copy_file_copies_by_reference_into_an_open_commit(repo: Dv) -> None:
    repo.ok("put", "file", "data@staging:/file1", input=b"one")
    repo.ok("put", "file", "data@staging:/file2", input=b"two")
    repo.ok("start", "commit", "data@master")
    repo.ok("copy", "file", "data@staging:file1", "data@master:file1")
    repo.ok("copy", "file", "data@staging:/file2", "data@master:/renamed")
    repo.ok("finish", "commit", "data@master")
    assert names(repo, "data@master") == ["/file1", "/renamed"]
    staging = repo.store.inspect_file("data@staging:/file2")
    assert repo.store.inspect_file("data@master:/renamed").hash == staging.hash


def test_copy_file_without_an_open_commit_makes_a_commit(repo: Dv) -> None:
    repo.ok("put", "file", "data@staging:/f", input=b"x")
    repo.ok("copy", "file", "data@staging:/f", "data@master:/g")
    assert repo.store.get_file("data@master:/g") == b"x"


def test_delete_file_removes_a_file_and_a_directory_only_with_recursive(repo: Dv) -> None:
    repo.ok("put", "file", "data@master:/dir/a", input=b"a")
    repo.ok("put", "file", "data@master:/b", input=b"b")
    assert "use -r" in repo.error("delete", "file", "data@master:/dir")
    repo.ok("delete", "file", "data@master:/b")
    repo.ok("delete", "file", "-r", "data@master:/dir")
    assert repo.ok("list", "file", "data@master") == "NAME TYPE SIZE\n"


def test_progress_reader_passes_every_byte_through(capsys: pytest.CaptureFixture[str]) -> None:
    import io

    data = os.urandom(5 * 1024 * 1024)
    reader = ProgressReader(io.BytesIO(data), None, "stdin", enabled=True)
    chunks = []
    while block := reader.read(1 << 20):
        chunks.append(block)
    reader.close()
    assert b"".join(chunks) == data


@pytest.mark.s3
def test_put_file_reads_s3_urls_with_the_endpoint_from_the_environment(
    repo: Dv, s3_server: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    client = boto3.client("s3", endpoint_url=s3_server)
    client.put_object(Bucket=s3_bucket, Key="in/a.csv", Body=b"a")
    client.put_object(Bucket=s3_bucket, Key="in/deep/b.csv", Body=b"bb")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server)  # as a user would export it
    repo.ok("put", "file", "data@master", "-f", f"s3://{s3_bucket}/in/a.csv")
    repo.ok("put", "file", "-r", "data@master:/copy", "-f", f"s3://{s3_bucket}/in")
    assert repo.store.get_file("data@master:/a.csv") == b"a"
    assert repo.store.get_file("data@master:/copy/deep/b.csv") == b"bb"
    assert "not found" in repo.error("put", "file", "data@master", "-f", f"s3://{s3_bucket}/no")


@pytest.mark.parametrize(
    ("source", "path", "n", "into_dir", "target"),
    [
        ("dir/report.csv", None, 1, False, "/report.csv"),
        ("http://host/img/example.png?x=1", None, 1, False, "/example.png"),
        ("s3://my_bucket", None, 1, False, "/my_bucket"),
        ("s3://bucket/prefix/", None, 1, False, "/prefix"),
        ("a.txt", "/exact", 1, False, "/exact"),
        ("a.txt", "/dir", 1, True, "/dir/a.txt"),
        ("x/a.txt", "/dir", 2, False, "/dir/a.txt"),
    ],
)
def test_put_file_targets_follow_pachctl_naming(
    source: str, path: str | None, n: int, into_dir: bool, target: str
) -> None:
    from dagster_versioned.cli.transfer import target_for

    assert target_for(source, path, n, into_dir=into_dir) == target
