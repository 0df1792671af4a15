"""Versioned repos over fsspec: the storage core, with no Dagster or CLI import."""

from dagster_versioned.store.commits import Commit, CommitId, CommitRef, Origin
from dagster_versioned.store.globs import Glob, compile_glob
from dagster_versioned.store.names import Ref, normalize_path, parse_ref
from dagster_versioned.store.objects import ObjectId
from dagster_versioned.store.records import BranchInfo, CommitSet, FileDiff, FileInfo, RepoInfo
from dagster_versioned.store.refs import BranchHead
from dagster_versioned.store.store import Store
from dagster_versioned.store.transaction import CommitWriter
from dagster_versioned.store.triggers import Trigger, parse_size

__all__ = [
    "BranchHead",
    "BranchInfo",
    "Commit",
    "CommitId",
    "CommitRef",
    "CommitSet",
    "CommitWriter",
    "FileDiff",
    "FileInfo",
    "Glob",
    "ObjectId",
    "Origin",
    "Ref",
    "RepoInfo",
    "Store",
    "Trigger",
    "compile_glob",
    "normalize_path",
    "parse_ref",
    "parse_size",
]
