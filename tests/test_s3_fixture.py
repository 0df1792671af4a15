"""The S3 fixture is a real S3 endpoint, and every store location honours exclusive create.

Exclusive create (`pipe_file(..., mode="create")`) is what branch heads rely on for
compare-and-swap; on S3 it is a PUT with `If-None-Match: *`.
"""

from __future__ import annotations

from typing import Any

import boto3
import fsspec
import pytest
import s3fs


@pytest.mark.s3
def test_put_object_then_get_object_returns_the_same_bytes(s3_server: str, s3_bucket: str):
    client = boto3.client("s3", endpoint_url=s3_server)
    client.put_object(Bucket=s3_bucket, Key="a/b.txt", Body=b"hello")

    body = client.get_object(Bucket=s3_bucket, Key="a/b.txt")["Body"].read()

    assert body == b"hello"


@pytest.mark.s3
def test_each_s3_bucket_is_fresh_and_empty(s3_server: str, s3_bucket: str):
    client = boto3.client("s3", endpoint_url=s3_server)

    assert client.list_objects_v2(Bucket=s3_bucket)["KeyCount"] == 0


@pytest.mark.s3
def test_pipe_file_create_writes_a_missing_key(s3_bucket: str, s3_storage_options: dict[str, Any]):
    fs = s3fs.S3FileSystem(**s3_storage_options)

    fs.pipe_file(f"{s3_bucket}/refs/1.json", b"first", mode="create")

    assert fs.cat_file(f"{s3_bucket}/refs/1.json") == b"first"


@pytest.mark.s3
def test_pipe_file_create_on_existing_key_raises_file_exists_and_keeps_old_bytes(
    s3_bucket: str, s3_storage_options: dict[str, Any]
):
    # This is the compare-and-swap primitive for branch heads: PUT with `If-None-Match: *`.
    fs = s3fs.S3FileSystem(**s3_storage_options)
    path = f"{s3_bucket}/refs/1.json"
    fs.pipe_file(path, b"winner", mode="create")

    with pytest.raises(FileExistsError):
        fs.pipe_file(path, b"loser", mode="create")

    assert fs.cat_file(path) == b"winner"


@pytest.mark.s3
def test_pipe_file_overwrite_replaces_an_existing_key(
    s3_bucket: str, s3_storage_options: dict[str, Any]
):
    fs = s3fs.S3FileSystem(**s3_storage_options)
    path = f"{s3_bucket}/k"
    fs.pipe_file(path, b"old")

    fs.pipe_file(path, b"new", mode="overwrite")

    assert fs.cat_file(path) == b"new"


def test_every_store_location_supports_exclusive_create(store_location: tuple[str, dict[str, Any]]):
    # memory, local and s3 alike: a second create of the same path is refused, the first stays.
    url, options = store_location
    fs, root = fsspec.core.url_to_fs(url, **options)
    path = f"{root}/refs/1.json"
    fs.makedirs(f"{root}/refs", exist_ok=True)
    fs.pipe_file(path, b"winner", mode="create")

    with pytest.raises(FileExistsError):
        fs.pipe_file(path, b"loser", mode="create")

    assert fs.cat_file(path) == b"winner"
