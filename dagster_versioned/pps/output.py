"""A job's output commit ``<pipeline>@<id>``, a datum's input files as output entries, and
egress of the commit to an fsspec URL."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from dagster_versioned.errors import (
    VersionedError,
)
from dagster_versioned.pps.datums import DatumInput
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
    adopted = set(plan.adopted)  # skipped, but from a rerun job: not in the previous output
    fresh = {
        p: outputs[p]
        for i in infos
        if i.state == DatumState.SUCCESS or i.id in adopted
        for p in i.outputs
    }
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


class InputFiles(Mapping[str, Entry]):
    """A datum's input files by real local path → stored entry, for outputs linked to them.

    Looked up only for the links an output holds: a file input is its own entry; a file
    inside a directory input is found by its exact path in the input commit.
    """

    def __init__(self, store: Store, inputs: tuple[DatumInput, ...], pfs: Path) -> None:
        self._store = store
        self._inputs = inputs
        self._pfs = pfs
        self._given: set[int] = set()

    def __getitem__(self, real: str) -> Entry:
        for inp in self._inputs:
            local = os.path.realpath(self._pfs / inp.name / inp.path.lstrip("/"))
            if inp.entry.kind == "file" and real == local:
                return self._give(inp.entry)
            if inp.entry.kind == "dir" and os.path.commonpath([local, real]) == local:
                found = self._lookup(inp, os.path.relpath(real, local))
                if found is not None:
                    return self._give(found)
        raise KeyError(real)

    def _lookup(self, inp: DatumInput, rel: str) -> Entry | None:
        path = f"{inp.path.rstrip('/')}/{rel}"
        if rel == "." or any(c in path for c in "*?[]{}!"):
            return None  # a glob character: not an exact lookup, stored by content instead
        _, matches = self._store.glob_entries(f"{inp.repo}@{inp.commit}:{path}")
        return next((e for p, e in matches if e.kind == "file"), None)

    def _give(self, entry: Entry) -> Entry:
        self._given.add(id(entry))
        return entry

    def is_reference(self, entry: Entry) -> bool:
        """Whether ``entry`` came from an input (no bytes were uploaded for it)."""
        return id(entry) in self._given

    def __iter__(self) -> Iterator[str]:
        return iter(())  # only looked up, never listed

    def __len__(self) -> int:
        return 0
