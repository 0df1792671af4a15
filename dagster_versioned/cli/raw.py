"""``--raw`` output: store records as pachctl prints them, protojson of Pachyderm's ``pfs.proto``.

protojson's rules, which scripts written against ``pachctl ... --raw`` rely on: proto field
names (snake_case), fields in proto field-number order, int64 values as JSON strings, zero
values (``0``, ``""``, ``false``, empty lists) omitted, a set sub-message printed even when it is
empty (``"details": {}``), timestamps as RFC 3339 in UTC with 0, 3, 6 or 9 fraction digits,
enums by name, bytes in base64. Repos are ``{"name": ..., "type": "user"}`` as in Pachyderm 2.x
before projects. Field choices are documented in ``docs/cli.md``.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

from dagster_versioned.store import BranchInfo, Commit, CommitRef, FileInfo, RepoInfo, Trigger

Json = dict[str, Any]


def dumps(record: Json) -> str:
    """One record as one line of JSON."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def timestamp(when: datetime) -> str:
    """protojson Timestamp: ``2021-08-02T20:13:10.461841Z`` (fraction only as long as needed)."""
    utc = when.astimezone(UTC)
    base = utc.strftime("%Y-%m-%dT%H:%M:%S")
    micros = utc.microsecond
    if micros == 0:
        return base + "Z"
    if micros % 1000 == 0:
        return f"{base}.{micros // 1000:03d}Z"
    return f"{base}.{micros:06d}Z"


def _compact(record: Json) -> Json:
    """Drop protojson zero values (``None``, ``""``, ``False``, ``[]``); keep set messages."""
    return {
        k: v for k, v in record.items() if v is not None and v != "" and v is not False and v != []
    }


def repo(name: str) -> Json:
    return {"name": name, "type": "user"}


def branch(repo_name: str, name: str) -> Json:
    return {"repo": repo(repo_name), "name": name}


def commit(repo_name: str, branch_name: str, commit_id: str) -> Json:
    return {"branch": branch(repo_name, branch_name), "id": commit_id}


def commit_ref(ref: CommitRef) -> Json:
    return commit(ref.repo, ref.branch, ref.id)


def repo_info(info: RepoInfo) -> Json:
    """``RepoInfo``: repo, created, description, branches, details{size_bytes}."""
    return _compact(
        {
            "repo": repo(info.name),
            "created": timestamp(info.created),
            "description": info.description,
            "branches": [branch(info.name, b) for b in info.branches],
            "details": _size_details(info.size_bytes),
        }
    )


def _size_details(size: int) -> Json:
    return {"size_bytes": str(size)} if size else {}


def commit_info(c: Commit) -> Json:
    """``CommitInfo``; an open commit has no ``finished`` and no ``details`` yet."""
    parent = commit(c.repo, c.branch, c.parent) if c.parent else None
    return _compact(
        {
            "commit": commit(c.repo, c.branch, c.id),
            "origin": {"kind": c.origin.value},
            "description": c.description,
            "parent_commit": parent,
            "started": timestamp(c.started),
            "finished": timestamp(c.finished) if c.finished else None,
            "direct_provenance": [commit_ref(p) for p in c.provenance],
            "error": c.error or "",
            "details": _size_details(c.size_bytes) if c.is_finished else None,
        }
    )


def commit_set_info(set_id: str, commits: list[Commit]) -> Json:
    """``CommitSetInfo``: the global id and every commit carrying it."""
    return _compact({"commit_set": {"id": set_id}, "commits": [commit_info(c) for c in commits]})


def trigger(t: Trigger) -> Json:
    """``Trigger``; our cron is a condition, Pachyderm's ``rate_limit_spec`` (not ``cron_spec``).

    ``condition`` (a custom condition evaluated by the Dagster sensor) is our extension.
    """
    return _compact(
        {
            "branch": t.branch,
            "all": t.all,
            "size": t.size or "",
            "commits": str(t.commits) if t.commits else None,
            "rate_limit_spec": t.cron or "",
            "condition": t.condition or "",
        }
    )


def branch_info(info: BranchInfo, head: Commit | None) -> Json:
    """``BranchInfo``: branch, head (the commit, on the branch it was made on), trigger."""
    return _compact(
        {
            "branch": branch(info.repo, info.name),
            "head": commit(head.repo, head.branch, head.id) if head is not None else None,
            "trigger": trigger(info.trigger) if info.trigger is not None else None,
        }
    )


def file_info(info: FileInfo, branch_name: str) -> Json:
    """``FileInfo``; directory paths end in ``/`` and hashes are base64, as in Pachyderm 2.x."""
    return _compact(
        {
            "file": {
                "commit": commit(info.repo, branch_name, info.commit),
                "path": file_path(info),
            },
            "file_type": "DIR" if info.type == "dir" else "FILE",
            "size_bytes": str(info.size) if info.size else None,
            "hash": _hash_bytes(info.hash),
        }
    )


def file_path(info: FileInfo) -> str:
    """Pachyderm 2.x names a directory with a trailing slash (``/dir/``)."""
    if info.type == "dir" and not info.path.endswith("/"):
        return info.path + "/"
    return info.path


def _hash_bytes(hex_hash: str) -> str:
    try:
        return base64.b64encode(binascii.unhexlify(hex_hash)).decode()
    except (binascii.Error, ValueError):
        return ""
