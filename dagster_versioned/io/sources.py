"""Input repos as external assets (``AssetSpec``): the data version is the branch's head commit.

Dagster compares an observed data version with the one downstream assets were computed from, so
when the head moves the UI marks every downstream asset stale, with no run needed to find out.
The repo is an ``AssetSpec`` (``SourceAsset`` is deprecated in Dagster 1.13, and
``observable_source_asset`` is beta); its observations come from a sensor — the pipelines'
branch sensor reports one with each head move, and :func:`repo_observation_sensor` does it for
assets outside ``versioned_definitions``.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
from dagster._core.definitions.data_version import DATA_VERSION_TAG  # no public name in 1.13

from dagster_versioned.io.naming import dagster_name
from dagster_versioned.io.resource import open_store
from dagster_versioned.io.tags import BRANCH_KEY, REPO_KEY
from dagster_versioned.store import Store
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
) -> dg.AssetSpec:
    """An external asset for ``repo@branch``; its observed data version is the head commit id.

    Downstream assets take it as an input (loaded by :class:`VersionedIOManager` at the exact
    commit a branch sensor asked for) or as a ``deps`` entry; :func:`branch_sensors_for` finds it
    there and builds the sensor that starts a run per head move. ``storage`` is accepted for
    the callers that pass it; the observing sensor is where the store is opened.

    Example::

        images = repo_source_asset("images", storage="s3://bucket/dv")

        @dg.asset
        def edges(images: Path) -> Path: ...     # images: a local copy of the commit's files
    """
    del storage, storage_options  # the spec holds no store: observations come from a sensor
    validate_repo_name(repo)
    validate_branch_name(branch)
    asset_key = dg.AssetKey.from_coercible(key) if key is not None else source_asset_key(repo)
    return dg.AssetSpec(
        key=asset_key,
        metadata={REPO_KEY: repo, BRANCH_KEY: branch},
        group_name=group_name,
        description=description or f"versioned repo {repo}@{branch} (data version: head commit)",
    ).with_io_manager_key(io_manager_key)


def observe_repo(store: Store, repo: str, branch: str, key: dg.AssetKey) -> dg.AssetObservation:
    """An observation of ``repo@branch`` as asset ``key``: data version = head commit id."""
    info = store.inspect_branch(f"{repo}@{branch}")
    head = info.head or ""
    return dg.AssetObservation(
        asset_key=key,
        tags={DATA_VERSION_TAG: head},  # what ObserveResult(data_version=...) becomes
        metadata={
            "commit": dg.MetadataValue.text(head),
            "ref_log_seq": dg.MetadataValue.int(info.seq),
            "url": dg.MetadataValue.path(f"dv://{repo}@{head}/"),
        },
    )


def repo_observation_sensor(
    source: dg.AssetSpec,
    *,
    storage: str | None = None,
    storage_options: dict[str, Any] | None = None,
    minimum_interval_seconds: int = 30,
) -> dg.SensorDefinition:
    """A sensor that reports an observation of ``source`` whenever its branch head moves.

    For input repos used with plain ``@asset``s and :func:`branch_sensor`; pipelines built by
    ``versioned_definitions`` need none (their branch sensor reports the observation).
    """
    repo = str(source.metadata.get(REPO_KEY) or source.key.path[-1])
    branch = str(source.metadata.get(BRANCH_KEY) or "master")

    @dg.sensor(
        name=f"dv_observe_{dagster_name(source.key.to_python_identifier())}",
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"observes {repo}@{branch}: its data version is the head commit",
    )
    def _observe(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        observation = observe_repo(open_store(storage, storage_options), repo, branch, source.key)
        head = observation.data_version or ""
        if head == context.cursor:
            return dg.SensorResult(skip_reason=dg.SkipReason(f"{repo}@{branch} did not move"))
        return dg.SensorResult(asset_events=[observation], cursor=head)

    return _observe
