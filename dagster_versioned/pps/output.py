"""A job's output commit ``<pipeline>@<id>``, and egress of it to an fsspec URL."""

from __future__ import annotations

import logging

from dagster_versioned.errors import (
    VersionedError,
)
from dagster_versioned.pps.jobs import (
    DatumInfo,
    DatumState,
    JobInfo,
)
from dagster_versioned.pps.plan import (
    JobPlan,
)
from dagster_versioned.pps.spec import PipelineSpec
from dagster_versioned.store import Commit, Origin, Store
from dagster_versioned.store.trees import Entry

log = logging.getLogger("dagster_versioned.pipelines")


def assemble(infos: list[DatumInfo]) -> dict[str, Entry]:
    """Every datum's outputs; two datums writing one path is an error naming both."""
    owner: dict[str, str] = {}
    outputs: dict[str, Entry] = {}
    for info in infos:
        for path, raw in info.outputs.items():
            if path in owner:
                raise OutputCollision(path, owner[path], info.id)
            owner[path] = info.id
            outputs[path] = Entry.from_json(raw)
    return outputs


class OutputCollision(VersionedError):
    def __init__(self, path: str, first: str, second: str) -> None:
        super().__init__(
            f"datums {first} and {second} both wrote output file '{path}'; "
            "each output path must come from one datum"
        )


def write_output(
    store: Store, spec: PipelineSpec, job: JobInfo, infos: list[DatumInfo], plan: JobPlan
) -> Commit:
    """Output commit ``<pipeline>@<id>``: the previous output, minus the outputs of datums that
    vanished or were reprocessed, plus the new outputs — O(changed datums), not O(all)."""
    outputs = assemble(infos)
    fresh = {p: outputs[p] for i in infos if i.state == DatumState.SUCCESS for p in i.outputs}
    with store.commit(
        f"{spec.name}@{spec.output_branch}",
        commit_id=job.id,
        provenance=plan.inputs,
        origin=Origin.AUTO,
        description=f"job {spec.name}@{job.id}",
    ) as c:
        for path in plan.stale:
            if path not in outputs:
                c.delete_file(path)
        for path, entry in fresh.items():
            c.put_entry(path, entry)
    return store.inspect_commit(f"{spec.name}@{job.id}")


def egress(store: Store, commit: Commit, url: str) -> None:
    """Copy every file of the output commit to an fsspec URL (Pachyderm's egress)."""
    store.export(f"{commit.repo}@{commit.id}:/", url)
