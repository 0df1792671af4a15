"""Grid-job records in the store: the revision log they share with the Pachyderm engine's jobs.

Stores written before the log was shared hold versions without a ``write`` token, in compact
JSON; they must read unchanged, and the next update continues their numbering.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path

import pytest

from dagster_versioned.errors import AlreadyExists, JobNotFound
from dagster_versioned.gridcore.records import GridJobRecord, GridJobStatus, GridJobStore
from dagster_versioned.store import Store, layout
from dagster_versioned.store.commits import now

OLD_RECORD = {
    "id": "ab" * 16,
    "name": "nightly",
    "title": "nightly search",
    "pipeline": {"name": "train"},
    "grid": {"dimensions": [], "steps": [], "deselected": []},
    "grid_revision": 0,
    "schedule": "0 * * * *",
    "start_at": None,
    "status": "STARTED",
    "snapshot": None,
    "max_retained_runs": None,
    "allow_overlap": True,
    "on_overlap": "skip",
    "env": {},
    "created": "2024-05-01T10:00:00.000000Z",
    "updated": "2024-05-01T10:00:00.000000Z",
    "schedule_anchor": None,
    "finished": None,
    "parent": None,
}


def _old_bytes(revision: int, **changes: object) -> bytes:
    """A version as the store wrote it before revision logs were shared (no ``write`` token)."""
    data = {**OLD_RECORD, **changes, "revision": revision}
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def _record(name: str) -> GridJobRecord:
    at = now()
    return GridJobRecord(
        id="0" * 32, name=name, title=name, pipeline={}, grid={}, created=at, updated=at
    )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(str(tmp_path / "store"))


def test_a_job_written_before_the_shared_log_reads_and_updates_in_its_own_numbering(
    store: Store,
) -> None:
    store.records.put(layout.grid_job_revision("nightly", 0), _old_bytes(0))
    store.records.put(layout.grid_job_revision("nightly", 1), _old_bytes(1, status="PAUSED"))
    store.records.put(layout.grid_job_hint("nightly"), _old_bytes(0))  # stale, as a crash leaves
    jobs = GridJobStore(store)

    record = jobs.get("nightly")
    assert (record.revision, record.status, record.title) == (
        1,
        GridJobStatus.PAUSED,
        "nightly search",
    )
    assert [r.name for r in jobs.list_jobs()] == ["nightly"]

    resumed = jobs.update("nightly", lambda r: dataclasses.replace(r, status=GridJobStatus.STARTED))

    assert resumed.revision == 2
    assert jobs.get("nightly") == resumed
    stored = store.records.read_json(layout.grid_job_revision("nightly", 2))
    assert stored["revision"] == 2
    assert stored["status"] == "STARTED"
    assert store.records.read(layout.grid_job_revision("nightly", 1)) == _old_bytes(
        1, status="PAUSED"
    )


def test_a_name_is_created_once_and_an_unknown_name_is_not_found(store: Store) -> None:
    jobs = GridJobStore(store)
    created = jobs.create(_record("nightly"))

    assert created.revision == 0
    assert jobs.exists("nightly")
    with pytest.raises(AlreadyExists, match="'nightly'"):
        jobs.create(_record("nightly"))
    with pytest.raises(JobNotFound, match="'weekly'"):
        jobs.get("weekly")
    with pytest.raises(JobNotFound, match="'weekly'"):
        jobs.update("weekly", lambda r: r)


def test_an_update_that_changes_nothing_writes_no_version(store: Store) -> None:
    jobs = GridJobStore(store)
    created = jobs.create(_record("nightly"))

    assert jobs.update("nightly", lambda r: None) == created
    assert jobs.update("nightly", lambda r: r) == created
    assert store.records.list(f"{layout.grid_job_dir('nightly')}/{layout.REVISIONS}") == [
        "00000000.json"
    ]


def test_concurrent_updates_are_each_applied_once(store: Store) -> None:
    jobs = GridJobStore(store)
    jobs.create(dataclasses.replace(_record("nightly"), env={}))
    names = [f"w{i}" for i in range(8)]

    def add(name: str) -> None:
        GridJobStore(store).update(
            "nightly", lambda r: dataclasses.replace(r, env={**r.env, name: "1"})
        )

    threads = [threading.Thread(target=add, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    final = jobs.get("nightly")
    assert sorted(final.env) == names
    assert final.revision == len(names)
