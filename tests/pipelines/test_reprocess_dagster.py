"""Rerunning datums from the Dagster UI: the pipeline asset's run config in the launchpad.

``reprocess`` is ``failed`` (the default: succeeded datums are skipped), ``all``, or a list
of datum ids / input paths; ``job`` names the job to rerun (its inputs, its succeeded datums).
A fanned-out pipeline takes the same config on its plan op.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from dagster_versioned import Datum, pfs, pipeline, versioned_definitions
from dagster_versioned.pps.jobs import JobInfo, JobState, JobStore
from dagster_versioned.store import Store

FLAKY = {"broken": True}
RUNS: list[str] = []


def _upper(datum: Datum) -> None:
    for src in datum.files("images"):
        RUNS.append(src.name)
        if src.name == "b.txt" and FLAKY["broken"]:
            raise RuntimeError("the service was down")
        (datum.out / src.name).write_bytes(src.read_bytes().upper())


@pipeline(input=pfs("images", glob="/*"), datum_tries=1)
def upper(datum: Datum) -> None:
    _upper(datum)


@pipeline(input=pfs("images", glob="/*"), datum_tries=1, fan_out=2)
def spread(datum: Datum) -> None:
    _upper(datum)


@pytest.fixture
def storage(tmp_path: Path) -> str:
    FLAKY["broken"] = True
    RUNS.clear()
    url = str(tmp_path / "store")
    store = Store.open(url)
    store.create_repo("images")
    with store.commit("images@master") as c:
        for name in ("a.txt", "b.txt", "c.txt"):
            c.put_file(f"/{name}", name.encode())
    return url


def materialize(
    defs: dg.Definitions, name: str, instance: dg.DagsterInstance, config: dict[str, Any] | None
) -> dg.ExecuteInProcessResult:
    job = defs.resolve_implicit_global_asset_job_def()
    run_config: dict[str, Any] = {}
    if config is not None:
        op = {"config": config}
        nested = {"ops": {f"{name}__plan": op}} if name == "spread" else op
        run_config = {"ops": {name: nested}}
    return job.execute_in_process(
        instance=instance,
        asset_selection=[dg.AssetKey(name)],
        run_config=run_config,
        raise_on_error=False,
    )


def failed_job(defs: dg.Definitions, name: str, instance: dg.DagsterInstance) -> JobInfo:
    """Materialise once with b.txt failing; then the service is back."""
    assert not materialize(defs, name, instance, None).success
    FLAKY["broken"] = False
    RUNS.clear()
    (job,) = JobStore(Store.open(defs.resources["versioned_store"].storage)).list_jobs(name)
    assert job.state == JobState.FAILURE
    return job


@pytest.mark.parametrize("name", ["upper", "spread"])
def test_reprocess_failed_of_a_job_reruns_only_its_failed_datum(storage, name):
    defs = versioned_definitions([upper, spread], storage=storage)
    with dg.instance_for_test() as instance:
        job = failed_job(defs, name, instance)
        result = materialize(defs, name, instance, {"reprocess": "failed", "job": job.id})
        assert result.success
        mat = result.asset_materializations_for_node(name)[0]
    assert RUNS == ["b.txt"]
    assert mat.metadata["progress"].value == "0 + 2 + 1 / 3"
    assert mat.metadata["datums_recovered"].value == 1
    new_id = mat.metadata["global_id"].value
    assert new_id != job.id
    store = Store.open(storage)
    assert sorted(f.path for f in store.list_file(f"{name}@{new_id}:/")) == [
        "/a.txt",
        "/b.txt",
        "/c.txt",
    ]


def test_the_default_config_is_todays_rule_skip_what_the_head_succeeded_with(storage):
    FLAKY["broken"] = False
    defs = versioned_definitions([upper], storage=storage)
    with dg.instance_for_test() as instance:
        assert materialize(defs, "upper", instance, None).success
        RUNS.clear()
        again = materialize(defs, "upper", instance, None)
        assert (
            again.asset_materializations_for_node("upper")[0].metadata["progress"].value
            == "0 + 3 / 3"
        )
    assert RUNS == []


def test_a_named_datum_runs_again_and_all_runs_every_datum(storage):
    FLAKY["broken"] = False
    defs = versioned_definitions([upper], storage=storage)
    with dg.instance_for_test() as instance:
        assert materialize(defs, "upper", instance, None).success
        RUNS.clear()
        named = materialize(defs, "upper", instance, {"reprocess": ["/c.txt"]})
        assert RUNS == ["c.txt"]
        assert (
            named.asset_materializations_for_node("upper")[0].metadata["progress"].value
            == "1 + 2 / 3"
        )
        RUNS.clear()
        assert materialize(defs, "upper", instance, {"reprocess": "all"}).success
    assert sorted(RUNS) == ["a.txt", "b.txt", "c.txt"]


def test_an_unknown_datum_fails_the_step_naming_it_and_starts_no_job(storage):
    defs = versioned_definitions([upper], storage=storage)
    with dg.instance_for_test() as instance:
        job = failed_job(defs, "upper", instance)
        result = materialize(defs, "upper", instance, {"reprocess": ["/zzz"], "job": job.id})
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.step_failure_data.error.message  # type: ignore[union-attr]
    assert f"'/zzz' is not a datum of job upper@{job.id}" in message
    assert f"dvctl list datum upper@{job.id}" in message
    assert len(JobStore(Store.open(storage)).list_jobs("upper")) == 1


def test_a_bad_reprocess_value_fails_the_step_saying_what_is_valid(storage):
    defs = versioned_definitions([upper], storage=storage)
    with dg.instance_for_test() as instance:
        result = materialize(defs, "upper", instance, {"reprocess": 7})
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "reprocess must be 'failed', 'all' or a list of datum ids, got 7" in (
        failure.step_failure_data.error.message  # type: ignore[union-attr]
    )
