"""What a pipeline's materialisation shows in the Dagster UI beyond the job's counters.

A reader of the asset page asks three things the counters do not answer: which input commits
made this output (so an old input can be replayed by id), what changed in the output, and
which datums failed and why. Each is a table or list of metadata here; tables stop at
``ROWS`` rows (with a count of the rest) so a job of a million datums does not put a million
rows in the event log.
"""

from typing import Any

import dagster as dg

from dagster_versioned.errors import VersionedError
from dagster_versioned.pps.jobs import DatumInfo, DatumState, JobInfo, JobStore
from dagster_versioned.pps.spec import PipelineSpec
from dagster_versioned.store import Store

ROWS = 100


def output_version(store: Store, spec: PipelineSpec, job: JobInfo) -> str | None:
    """The output tree's root node: content-addressed, so a job that writes the same files as
    the one before gets the same data version and downstream assets do not look stale
    (the commit id would differ on every job)."""
    if job.output_commit is None:
        return None
    return store.inspect_commit(f"{spec.name}@{job.output_commit}").root.node


def report_metadata(store: Store, job: JobInfo, failed: list[DatumInfo]) -> dict[str, Any]:
    """Input commits, the output's diff against its parent, and the ``failed`` datums
    (``failed_datums``: read once by the caller, who also reports them on the check)."""
    meta: dict[str, Any] = {
        "input_commits": dg.MetadataValue.json(
            [f"{c.repo}@{c.id} ({c.branch})" for c in job.input_commits]
        )
    }
    if job.output_commit is not None:
        meta["output_diff"] = _diff_table(store, f"{job.pipeline}@{job.output_commit}")
    if failed:
        meta["failed_datums"] = _datum_table(failed)
    return meta


def failed_datums(store: Store, job: JobInfo) -> list[DatumInfo]:
    """The job's failed datums; none when its datum records are not written yet."""
    if job.data_failed == 0:
        return []
    try:
        datums = JobStore(store).load_datums(job.pipeline, job.id, stats=False)
    except VersionedError:
        return []
    return [d for d in datums if d.state == DatumState.FAILED]


def _diff_table(store: Store, ref: str) -> dg.TableMetadataValue:
    diffs = store.diff_file(ref)
    rows = [
        dg.TableRecord(
            {
                "path": d.path,
                "change": d.op,
                "size": d.new_size if d.new_size is not None else (d.old_size or 0),
            }
        )
        for d in diffs[:ROWS]
    ]
    rows += _more(len(diffs), {"change": "", "size": 0}, key="path")
    return dg.MetadataValue.table(
        rows,
        schema=dg.TableSchema(
            columns=[
                dg.TableColumn("path", "string"),
                dg.TableColumn("change", "string", description="added, changed or removed"),
                dg.TableColumn("size", "int", description="bytes (the old size if removed)"),
            ]
        ),
    )


def _datum_table(failed: list[DatumInfo]) -> dg.TableMetadataValue:
    rows = [
        dg.TableRecord({"datum": d.id, "tries": d.tries, "error": d.reason or "-"})
        for d in failed[:ROWS]
    ]
    rows += _more(len(failed), {"tries": 0, "error": ""}, key="datum")
    return dg.MetadataValue.table(
        rows,
        schema=dg.TableSchema(
            columns=[
                dg.TableColumn("datum", "string"),
                dg.TableColumn("tries", "int"),
                dg.TableColumn("error", "string", description="the last try's error"),
            ]
        ),
    )


def _more(total: int, blank: dict[str, Any], *, key: str) -> list[dg.TableRecord]:
    if total <= ROWS:
        return []
    return [dg.TableRecord({key: f"... and {total - ROWS} more", **blank})]


def datum_check(job: JobInfo, failed: list[DatumInfo], check_name: str) -> dg.AssetCheckResult:
    """Failed datums as a check result: ids and last errors, so the asset page says which
    datums to rerun without opening the job."""
    meta: dict[str, Any] = {
        "failed": job.data_failed,
        "recovered": job.data_recovered,
        "total": job.data_total,
    }
    if failed:
        meta["failed_datums"] = _datum_table(failed)
    return dg.AssetCheckResult(
        check_name=check_name,
        passed=job.data_failed == 0,
        severity=dg.AssetCheckSeverity.WARN if job.data_recovered else dg.AssetCheckSeverity.ERROR,
        metadata=meta,
    )


def asset_description(spec: PipelineSpec, *, fan_out: int = 1) -> str:
    """The spec's description, then where its output lives: the asset page links the repo."""
    what = spec.description or f"Pachyderm-style pipeline {spec.name}"
    if fan_out > 1:
        what += f" (fanned out over {fan_out} steps)"
    ref = f"{spec.name}@{spec.output_branch}"
    return f"{what}\n\nOutput repo: `dv://{ref}/` (`dvctl list file {ref}`)"
