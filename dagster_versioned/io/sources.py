"""Input repos as observable source assets: the data version is the branch's head commit.

Dagster compares an observed data version with the one downstream assets were computed from, so
when the head moves the UI marks every downstream asset stale, with no run needed to find out.
"""

from __future__ import annotations

import warnings
from typing import Any

import dagster as dg

from dagster_versioned.io.naming import dagster_name
from dagster_versioned.io.resource import open_store
from dagster_versioned.io.tags import BRANCH_KEY, REPO_KEY
from dagster_versioned.store.names import validate_branch_name, validate_repo_name


def source_asset_key(repo: str) -> dg.AssetKey:
    """The asset key of an input repo: its name with ``-`` as ``_`` (Dagster names allow no
    ``-``); the real repo name stays in the asset's ``dv/repo`` metadata."""
    return dg.AssetKey([dagster_name(repo)])


def repo_source_asset(
    repo: str,
    branch: str = "master",
    *,
    storage: str | None = None,
    storage_options: dict[str, Any] | None = None,
    key: dg.AssetKey | str | None = None,
    group_name: str | None = None,
    description: str | None = None,
    io_manager_key: str = "io_manager",
) -> dg.SourceAsset:
    """An observable source asset for ``repo@branch``; its data version is the head commit id.

    Downstream assets take it as an input (loaded by :class:`VersionedIOManager` at the exact
    commit a branch sensor asked for) or as a ``deps`` entry; :func:`branch_sensors_for` finds it
    there and builds the sensor that starts a run per head move.

    Example::

        images = repo_source_asset("images", storage="s3://bucket/dv")

        @dg.asset
        def edges(images: Path) -> Path: ...     # images: a local copy of the commit's files
    """
    validate_repo_name(repo)
    validate_branch_name(branch)
    asset_key = dg.AssetKey.from_coercible(key) if key is not None else source_asset_key(repo)

    def observe_head() -> dg.ObserveResult:
        info = open_store(storage, storage_options).inspect_branch(f"{repo}@{branch}")
        head = info.head or ""
        return dg.ObserveResult(
            data_version=dg.DataVersion(head),
            metadata={
                "commit": dg.MetadataValue.text(head),
                "ref_log_seq": dg.MetadataValue.int(info.seq),
                "url": dg.MetadataValue.path(f"dv://{repo}@{head}/"),
            },
        )

    with warnings.catch_warnings():  # beta in Dagster 1.13; pinned, so our choice, not the user's
        warnings.simplefilter("ignore", dg.BetaWarning)
        return dg.observable_source_asset(
            key=asset_key,
            metadata={REPO_KEY: repo, BRANCH_KEY: branch},
            io_manager_key=io_manager_key,
            group_name=group_name,
            description=description
            or f"versioned repo {repo}@{branch} (data version: head commit)",
        )(observe_head)
