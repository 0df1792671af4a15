"""``fsck`` and ``gc`` as Dagster asset checks: the store's health on the assets' pages.

``store_health_checks`` gives one ``fsck`` check per asset, which verifies the asset's repo
(refs → commits → trees → objects, every hash, entry names, open-commit leftovers and the job
records of a pipeline of that name) and fails with severity ERROR, each problem in plain words in
its metadata; and one ``gc`` check, a dry run of ``dvctl gc`` over the whole store, which reports
the objects and bytes gc would reclaim and warns above a threshold. Checks only read: repairs
stay with ``dvctl fsck --fix`` and ``dvctl gc``, run by a person who has read the report.

Dagster runs an asset's checks with every materialization of it, so a check on a pipeline asset
re-verifies the repo after each job; ``versioned_definitions`` puts them on the input repos'
source assets, which are never materialized, so they run when asked (the UI's "Execute checks",
or a job or schedule selecting them).
"""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import dagster as dg

import dagster_versioned.pps  # noqa: F401  (registers the job-record check with fsck)
from dagster_versioned.errors import InvalidArgument
from dagster_versioned.io.resource import VersionedStoreResource
from dagster_versioned.store.maintenance import FsckReport, fsck, gc
from dagster_versioned.units import bytes_size

RESOURCE_KEY = "versioned_store"
"""The resource key of the :class:`VersionedStoreResource` the checks use (as pipelines)."""
FSCK_CHECK = "fsck"
GC_CHECK = "gc"
GC_WARN_BYTES = 1 << 30
"""Reclaimable bytes above which the gc check warns, by default (1 GiB)."""
_SHOWN = 50
"""Problems listed in full in a check's metadata; the rest are counted."""


def _key(asset: Any) -> dg.AssetKey:
    key = getattr(asset, "key", None)  # AssetsDefinition, AssetSpec, Pipeline
    return key if isinstance(key, dg.AssetKey) else dg.AssetKey.from_coercible(asset)


def _repo(asset: Any) -> str:
    """A pipeline's repo is its name; any other asset's is its key's last part."""
    name = getattr(asset, "name", None)
    if isinstance(name, str) and not isinstance(asset, dg.AssetsDefinition | dg.AssetSpec):
        return name
    return _key(asset).path[-1]


def _bullets(lines: Sequence[str]) -> dg.MetadataValue:
    shown = [f"- {line}" for line in lines[:_SHOWN]]
    if len(lines) > _SHOWN:
        shown.append(f"- … and {len(lines) - _SHOWN} more (run `dvctl fsck` for all)")
    return dg.MetadataValue.md("\n".join(shown) or "none")


def fsck_result(key: dg.AssetKey, repo: str, report: FsckReport) -> dg.AssetCheckResult:
    """The check result for one repo's fsck report: ERROR per problem, WARN for leftovers."""
    metadata: dict[str, Any] = {
        "repo": repo,
        "commits_checked": report.commits,
        "objects_checked": report.objects,
        "problems": _bullets(report.problems),
        "problem_count": len(report.problems),
        "leftovers": _bullets(report.leftovers),
    }
    if report.problems:
        first = report.problems[0]
        more = f" (and {len(report.problems) - 1} more)" if len(report.problems) > 1 else ""
        return dg.AssetCheckResult(
            asset_key=key,
            check_name=FSCK_CHECK,
            passed=False,
            severity=dg.AssetCheckSeverity.ERROR,
            description=f"repo '{repo}' is damaged: {first}{more}",
            metadata=metadata,
        )
    if report.leftovers:
        return dg.AssetCheckResult(
            asset_key=key,
            check_name=FSCK_CHECK,
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            description=(
                f"repo '{repo}' is consistent, with {len(report.leftovers)} leftovers of "
                "interrupted operations: `dvctl fsck --fix` removes them"
            ),
            metadata=metadata,
        )
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=FSCK_CHECK,
        passed=True,
        description=(
            f"repo '{repo}': {report.commits} commits and {report.objects} objects verified"
        ),
        metadata=metadata,
    )


def store_health_checks(
    assets: Iterable[Any],
    *,
    repos: Mapping[dg.AssetKey, str] | None = None,
    gc_asset: Any = None,
    gc_grace: float = 3600.0,
    gc_warn_bytes: int = GC_WARN_BYTES,
    resource_key: str = RESOURCE_KEY,
    name_prefix: str = "dv_store",
) -> list[dg.AssetChecksDefinition]:
    """``fsck`` checks on ``assets`` and a ``gc`` check, over the :class:`VersionedStoreResource`.

    ``assets`` are asset keys, specs, assets definitions or pipelines. Each asset's repo is a
    pipeline's name, else the asset key's last part, unless ``repos`` maps the key to a repo
    name (a repo ``my-data`` is the asset ``my_data``). The gc check goes on ``gc_asset``
    (default: the first asset); it is a dry run with grace period ``gc_grace`` seconds and warns
    when more than ``gc_warn_bytes`` could be reclaimed.

    Example::

        defs = dg.Definitions(
            assets=[images],
            asset_checks=store_health_checks([images]),
            resources={"versioned_store": VersionedStoreResource(storage="s3://bucket/dv")},
        )
    """
    if gc_grace < 0 or gc_warn_bytes < 0:
        raise InvalidArgument(
            f"invalid gc_grace={gc_grace!r} or gc_warn_bytes={gc_warn_bytes!r}: "
            "neither may be negative"
        )
    repo_of = {_key(a): _repo(a) for a in assets}
    repo_of.update({k: r for k, r in (repos or {}).items() if k in repo_of})
    keys = list(repo_of)
    if not keys:
        return []

    @dg.multi_asset_check(
        name=f"{name_prefix}_fsck",
        specs=[
            dg.AssetCheckSpec(
                FSCK_CHECK,
                asset=k,
                description=(
                    f"dvctl fsck of repo '{repo_of[k]}': every ref, commit, tree entry and "
                    "object hash"
                ),
            )
            for k in keys
        ],
        can_subset=True,
        required_resource_keys={resource_key},
    )
    def _fsck(context: dg.AssetCheckExecutionContext) -> Iterable[dg.AssetCheckResult]:
        resource: VersionedStoreResource = getattr(context.resources, resource_key)
        for check_key in sorted(context.selected_asset_check_keys, key=str):
            repo = repo_of[check_key.asset_key]
            yield fsck_result(check_key.asset_key, repo, fsck(resource.store, repos=[repo]))

    gc_key = _key(gc_asset) if gc_asset is not None else keys[0]

    @dg.asset_check(
        asset=gc_key,
        name=GC_CHECK,
        description=(
            "dry run of dvctl gc: objects no commit references, older than the grace period, "
            f"that gc would delete (warns above {bytes_size(gc_warn_bytes)})"
        ),
        required_resource_keys={resource_key},
    )
    def _gc(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        resource: VersionedStoreResource = getattr(context.resources, resource_key)
        report = gc(resource.store, grace=gc_grace, dry_run=True)
        reclaimable = f"{len(report.deleted)} objects ({bytes_size(report.bytes_freed)})"
        over = report.bytes_freed > gc_warn_bytes
        return dg.AssetCheckResult(
            passed=not over,
            severity=dg.AssetCheckSeverity.WARN,
            description=(
                f"gc could reclaim {reclaimable}"
                + (f", more than {bytes_size(gc_warn_bytes)}: run `dvctl gc`" if over else "")
            ),
            metadata={
                "reclaimable_objects": len(report.deleted),
                "reclaimable_bytes": report.bytes_freed,
                "referenced_objects": report.reachable,
                "kept_younger_than_grace": report.kept_young,
                "dead_bytes_in_live_packs": report.dead_bytes_kept,
                "grace_seconds": gc_grace,
            },
        )

    return [_fsck, _gc]


__all__ = ["FSCK_CHECK", "GC_CHECK", "GC_WARN_BYTES", "fsck_result", "store_health_checks"]
