"""Where an output goes in the store, and what the Dagster UI shows about the commit it made."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg

from dagster_versioned.errors import InvalidArgument, InvalidName, PathNotFound
from dagster_versioned.io.tags import BRANCH_KEY, REPO_KEY
from dagster_versioned.store.commits import Commit
from dagster_versioned.store.names import MAX_NAME_LENGTH, normalize_path, validate_repo_name
from dagster_versioned.store.store import Store

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def repo_for_key(key: dg.AssetKey) -> str:
    """The repo an asset lives in by default: its key's parts joined with ``-``.

    Dagster asset names cannot contain ``-``, so ``["raw", "images"]`` → ``raw-images`` never
    collides with a one-part key.
    """
    name = "-".join(_UNSAFE.sub("_", part) for part in key.path)
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidName(
            f"asset key {key.to_user_string()!r} makes repo name '{name[:20]}…' longer than "
            f"{MAX_NAME_LENGTH} characters: name the repo with metadata {{'{REPO_KEY}': ...}}"
        )
    return validate_repo_name(name)


def repo_and_branch(
    key: dg.AssetKey, metadata: Mapping[str, Any], default_branch: str
) -> tuple[str, str]:
    """The asset's repo and branch: metadata ``dv/repo``/``dv/branch``, else the defaults."""
    repo = metadata_text(metadata, REPO_KEY)
    branch = metadata_text(metadata, BRANCH_KEY)
    return (
        validate_repo_name(str(repo)) if repo else repo_for_key(key),
        str(branch) if branch else default_branch,
    )


def metadata_text(metadata: Mapping[str, Any], key: str) -> str | None:
    """A metadata value as text, whether Dagster kept it raw or wrapped it in MetadataValue."""
    value = metadata.get(key)
    value = getattr(value, "value", value)
    return None if value is None or value == "" else str(value)


def partition_root(key: str) -> str:
    """The directory of one partition: ``/<key>``; a multi-partition key is one level per
    dimension, in dimension-name order (as Dagster's UPathIOManager lays them out)."""
    if isinstance(key, dg.MultiPartitionKey):
        text = "/".join(v for _, v in sorted(key.keys_by_dimension.items()))
    else:
        text = str(key)
    try:
        return normalize_path("/" + text)
    except InvalidArgument as e:
        raise InvalidArgument(f"partition key {key!r} cannot be a store path: {e}") from e


def output_root(context: dg.OutputContext) -> str:
    """``/`` for an unpartitioned asset, the partition's directory for a partitioned one."""
    if not context.has_asset_partitions:
        return "/"
    keys = context.asset_partition_keys
    if len(keys) != 1:
        raise InvalidArgument(
            f"asset {context.asset_key.to_user_string()} produced one value for {len(keys)} "
            "partitions; VersionedIOManager stores one partition per output: launch the "
            "backfill with a multi-run backfill policy, or return None and write the commit "
            "yourself"
        )
    return partition_root(keys[0])


def op_repo(job_name: str) -> str:
    """Outputs of plain ops (not assets) go to a repo named after the job."""
    return validate_repo_name(_UNSAFE.sub("_", job_name)[:MAX_NAME_LENGTH])


def op_root(identifier: Sequence[str]) -> str:
    """``/<run id>/<step key>/<output>[/<mapping key>]``: run-scoped, so runs never overlap."""
    return normalize_path("/" + "/".join(identifier))


def check_tree(obj: Path) -> Path:
    if not obj.exists():
        raise PathNotFound(str(obj), "the local file system (the asset returned this path)")
    return obj


def describe(context: dg.OutputContext) -> str:
    what = context.asset_key.to_user_string() if context.has_asset_key else context.step_key
    if context.has_asset_key and context.has_asset_partitions:
        what += f" [{context.asset_partition_key}]"
    try:
        run_id = context.run_id
    except dg.DagsterInvariantViolationError:
        return f"dagster: {what}"
    return f"dagster run {run_id}: {what}"


def _size_at(store: Store, ref: str) -> int:
    try:
        return store.inspect_file(ref).size
    except PathNotFound:
        return 0


def output_metadata(
    store: Store, commit: Commit, *, root: str, data_path: str
) -> dict[str, dg.MetadataValue[Any]]:
    """Repo, branch, commit, parent, size, ``dv://`` URL and the diff against the parent."""
    at = f"{commit.repo}@{commit.id}"
    diffs = store.diff_file(f"{at}:{root}")
    counts = {op: sum(1 for d in diffs if d.op == op) for op in ("added", "changed", "removed")}
    new_size = _size_at(store, f"{at}:{root}")
    old_size = _size_at(store, f"{commit.repo}@{commit.parent}:{root}") if commit.parent else 0
    delta = new_size - old_size
    summary = (
        f"{counts['added']} added, {counts['changed']} changed, {counts['removed']} removed "
        f"({delta:+,d} bytes) against {commit.parent or 'nothing (first commit)'}"
    )
    return {
        "repo": dg.MetadataValue.text(commit.repo),
        "branch": dg.MetadataValue.text(commit.branch),
        "commit": dg.MetadataValue.text(commit.id),
        "parent": dg.MetadataValue.text(commit.parent or ""),
        "size": dg.MetadataValue.int(_size_at(store, f"{at}:{data_path}")),
        "url": dg.MetadataValue.path(f"dv://{at}{data_path}"),
        "files_added": dg.MetadataValue.int(counts["added"]),
        "files_changed": dg.MetadataValue.int(counts["changed"]),
        "files_removed": dg.MetadataValue.int(counts["removed"]),
        "bytes_delta": dg.MetadataValue.int(delta),
        "diff": dg.MetadataValue.text(summary),
    }
