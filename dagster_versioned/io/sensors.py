"""Branch sensors: one Dagster run per head move of a branch, in order, never merged.

The sensor's cursor is the last ref-log sequence number it handled. Each tick it reads the
entries after the cursor and turns every one that moved the head into a ``RunRequest``, so a
burst of ten commits between two ticks gives ten runs, like ten Pachyderm jobs. Each request's
``run_key`` is ``repo@branch:<seq>:<commit>`` — unique per move, so a daemon that crashes between
launching runs and saving the cursor launches nothing twice — and its tags carry the global id
(the new head) and ``input_commit`` (``repo@<head>``), which :class:`VersionedIOManager` reads
instead of the branch head: the run sees exactly the commit it was started for.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg

from dagster_versioned.errors import NotFound
from dagster_versioned.io.naming import branch_sensor_name
from dagster_versioned.io.outputs import metadata_text, repo_for_key
from dagster_versioned.io.resource import open_store
from dagster_versioned.io.tags import BRANCH_KEY, GLOBAL_ID_TAG, INPUT_COMMIT_TAG, REPO_KEY
from dagster_versioned.store.names import validate_branch_name, validate_repo_name
from dagster_versioned.store.refs import BranchHead
from dagster_versioned.store.store import Store

DEFAULT_MAX_RUNS_PER_TICK = 100


@dataclass(frozen=True, slots=True, kw_only=True)
class BranchTick:
    """What one evaluation decided: runs to request, the new cursor, or why it skipped."""

    run_requests: list[dg.RunRequest]
    cursor: str | None
    skip_reason: str | None = None


def run_request_for(entry: BranchHead) -> dg.RunRequest:
    """The run for one head move (``entry.moved``)."""
    assert entry.head is not None
    return dg.RunRequest(
        run_key=f"{entry.repo}@{entry.branch}:{entry.seq}:{entry.head}",
        tags={GLOBAL_ID_TAG: entry.head, INPUT_COMMIT_TAG: f"{entry.repo}@{entry.head}"},
    )


def plan_tick(
    store: Store,
    repo: str,
    branch: str,
    cursor: str | None,
    *,
    max_runs: int = DEFAULT_MAX_RUNS_PER_TICK,
    run_existing_head: bool = True,
) -> BranchTick:
    """Decide one tick from the ref log and the cursor (pure apart from reading the store).

    With no cursor (a new sensor) only the current head gets a run, as a new Pachyderm pipeline
    processes the head and not the branch's whole history.
    """
    after = int(cursor) if cursor else -1
    try:
        entries = store.branch_log(repo, branch, after=after)
        if not entries and after >= 0:
            latest = store.refs.latest(repo, branch)
            if latest is not None and latest.seq < after:  # repo deleted and created again
                entries = store.branch_log(repo, branch)
    except NotFound as e:
        return BranchTick(run_requests=[], cursor=cursor, skip_reason=str(e))
    if not entries:
        return BranchTick(
            run_requests=[], cursor=cursor, skip_reason=f"{repo}@{branch} is unchanged"
        )
    if cursor is None:
        last = entries[-1]
        first = [run_request_for(last)] if run_existing_head and last.moved else []
        return BranchTick(run_requests=first, cursor=str(last.seq), skip_reason=None)
    requests: list[dg.RunRequest] = []
    new_cursor = cursor
    for entry in entries:
        if entry.moved:
            if len(requests) >= max_runs:
                break
            requests.append(run_request_for(entry))
        new_cursor = str(entry.seq)
    reason = None if requests else f"{repo}@{branch} changed without moving its head"
    return BranchTick(run_requests=requests, cursor=new_cursor, skip_reason=reason)


def branch_sensor(
    repo: str,
    branch: str = "master",
    *,
    target: Any = None,
    job: Any = None,
    jobs: Sequence[Any] | None = None,
    asset_selection: Any = None,
    storage: str | None = None,
    storage_options: dict[str, Any] | None = None,
    name: str | None = None,
    minimum_interval_seconds: int = 30,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING,
    max_runs_per_tick: int = DEFAULT_MAX_RUNS_PER_TICK,
    run_existing_head: bool = True,
    description: str | None = None,
) -> dg.SensorDefinition:
    """A sensor starting one run of ``target`` (or ``job``/``jobs``/``asset_selection``) per
    head move of ``repo@branch`` (see the module docstring).

    It is on by default (``DefaultSensorStatus.RUNNING``): like Pachyderm, a commit is processed
    as soon as the daemon runs, with no click in the UI.

    Example::

        images = repo_source_asset("images")
        sensor = branch_sensor("images", target=[edges, montage], storage="/data/dv")
    """
    validate_repo_name(repo)
    validate_branch_name(branch)
    where = {
        k: v
        for k, v in {
            "target": target, "job": job, "jobs": jobs, "asset_selection": asset_selection,
        }.items()
        if v is not None
    }  # fmt: skip

    @dg.sensor(
        name=name or branch_sensor_name(repo, branch),
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        description=description or f"one run per head move of {repo}@{branch}",
        **where,
    )
    def _branch_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        tick = plan_tick(
            open_store(storage, storage_options), repo, branch, context.cursor,
            max_runs=max_runs_per_tick, run_existing_head=run_existing_head,
        )  # fmt: skip
        if tick.skip_reason is not None:
            return dg.SensorResult(skip_reason=dg.SkipReason(tick.skip_reason), cursor=tick.cursor)
        return dg.SensorResult(run_requests=tick.run_requests, cursor=tick.cursor)

    return _branch_sensor


def input_repos(
    assets: Iterable[Any],
) -> dict[tuple[str, str], set[dg.AssetKey]]:
    """``{(repo, branch): downstream asset keys}`` for every input repo of ``assets``.

    An input repo is a dependency that is not materialised by ``assets``: a
    :func:`repo_source_asset` (its repo and branch from its metadata) or a bare asset key in
    ``deps`` (repo named after the key, branch master). The keys are every asset in ``assets``
    downstream of it, directly or through other assets of the set.
    """
    materialized: set[dg.AssetKey] = set()
    upstream: dict[dg.AssetKey, set[dg.AssetKey]] = {}
    sources: dict[dg.AssetKey, tuple[str, str]] = {}
    for item in assets:
        if isinstance(item, dg.SourceAsset | dg.AssetSpec):
            sources[item.key] = _repo_branch(item.key, item.metadata)
        elif isinstance(item, dg.AssetsDefinition):
            for spec in item.specs:
                if item.is_materializable:
                    materialized.add(spec.key)
                    upstream[spec.key] = {dep.asset_key for dep in spec.deps}
                else:
                    sources[spec.key] = _repo_branch(spec.key, spec.metadata)
    downstream: dict[dg.AssetKey, set[dg.AssetKey]] = {}
    for key, deps in upstream.items():
        for dep in deps:
            downstream.setdefault(dep, set()).add(key)
    out: dict[tuple[str, str], set[dg.AssetKey]] = {}
    for dep in sorted(set(downstream) - materialized, key=lambda k: k.to_user_string()):
        repo_branch = sources.get(dep) or (repo_for_key(dep), "master")
        reached = out.setdefault(repo_branch, set())
        todo = list(downstream[dep])
        while todo:
            key = todo.pop()
            if key not in reached:
                reached.add(key)
                todo.extend(downstream.get(key, ()))
    return out


def _repo_branch(key: dg.AssetKey, metadata: Any) -> tuple[str, str]:
    meta = dict(metadata or {})
    repo, branch = metadata_text(meta, REPO_KEY), metadata_text(meta, BRANCH_KEY)
    return (repo or repo_for_key(key), branch or "master")


def branch_sensors_for(
    assets: Iterable[Any],
    *,
    storage: str | None = None,
    storage_options: dict[str, Any] | None = None,
    minimum_interval_seconds: int = 30,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING,
    max_runs_per_tick: int = DEFAULT_MAX_RUNS_PER_TICK,
) -> list[dg.SensorDefinition]:
    """One :func:`branch_sensor` per input repo of ``assets``, each targeting the assets
    downstream of that repo; on by default (DESIGN §4).

    Example::

        defs = dg.Definitions(
            assets=[images, edges, montage],
            sensors=branch_sensors_for([images, edges, montage], storage="/data/dv"),
            resources={"io_manager": VersionedIOManager(storage="/data/dv")},
        )
    """
    return [
        branch_sensor(
            repo,
            branch,
            target=dg.AssetSelection.assets(*sorted(keys, key=lambda k: k.to_user_string())),
            storage=storage,
            storage_options=storage_options,
            minimum_interval_seconds=minimum_interval_seconds,
            default_status=default_status,
            max_runs_per_tick=max_runs_per_tick,
        )
        for (repo, branch), keys in sorted(input_repos(assets).items())
    ]
