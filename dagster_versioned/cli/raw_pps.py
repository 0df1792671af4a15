"""Job, datum and pipeline records as ``pachctl ... --raw`` prints them (protojson of
Pachyderm's ``pps.proto``: snake_case names in field order, int64 as strings, durations as
``"1.020472976s"``, zero values omitted), and the lines of ``inspect job``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dagster_versioned.cli.formatting import ago, bytes_size, human_duration
from dagster_versioned.cli.raw import commit, timestamp

if TYPE_CHECKING:
    from dagster_versioned.pps.jobs import DatumInfo, JobInfo, JobStats

Json = dict[str, Any]


def duration(seconds: float) -> str:
    """protojson Duration: seconds with 0, 3, 6 or 9 fraction digits."""
    nanos = round(seconds * 1e9)
    whole, frac = divmod(nanos, 10**9)
    if frac == 0:
        return f"{whole}s"
    if frac % 10**6 == 0:
        return f"{whole}.{frac // 10**6:03d}s"
    if frac % 10**3 == 0:
        return f"{whole}.{frac // 10**3:06d}s"
    return f"{whole}.{frac:09d}s"


def _compact(record: Json) -> Json:
    return {k: v for k, v in record.items() if v not in (None, "", "0", False, [], {})}


def stats(s: JobStats) -> Json:
    return _compact(
        {
            "download_time": duration(s.download_time),
            "process_time": duration(s.process_time),
            "upload_time": duration(s.upload_time),
            "download_bytes": str(s.download_bytes),
            "upload_bytes": str(s.upload_bytes),
        }
    )


def _input_with_commits(spec: Any, commits: Mapping[str, str]) -> Any:
    """The job's input spec, each pfs input showing the commit this job read (as Pachyderm)."""
    if not isinstance(spec, dict):
        return spec
    if "pfs" in spec:
        pfs = dict(spec["pfs"])
        pfs.setdefault("name", pfs["repo"])
        pfs["repo_type"] = "user"
        if pfs["repo"] in commits:
            pfs["commit"] = commits[pfs["repo"]]
        order = ("name", "repo", "repo_type", "branch", "commit", "glob")
        ordered = {k: pfs[k] for k in order if k in pfs}
        ordered.update({k: v for k, v in pfs.items() if k not in ordered})
        return {"pfs": ordered}
    if "cron" in spec:  # the tick commit this job read, as for a pfs input
        cron = dict(spec["cron"])
        if cron.get("repo") in commits:
            cron["commit"] = commits[cron["repo"]]
        return {"cron": cron}
    return {
        kind: [_input_with_commits(c, commits) for c in children] for kind, children in spec.items()
    }


def job_info(job: JobInfo) -> Json:
    commits = {c.repo: c.id for c in job.input_commits}
    details = dict(job.details)
    if "input" in details:
        details["input"] = _input_with_commits(details["input"], commits)
    output = (
        commit(job.pipeline, job.output_branch, job.output_commit) if job.output_commit else None
    )
    record: Json = {
        "job": {"pipeline": {"name": job.pipeline}, "id": job.id},
        "pipeline_version": str(job.pipeline_version),
        "output_commit": output,
        "restart": str(job.restart),
        "data_processed": str(job.data_processed),
        "data_skipped": str(job.data_skipped),
        "data_total": str(job.data_total),
        "data_failed": str(job.data_failed),
        "data_recovered": str(job.data_recovered),
        "stats": stats(job.stats),
        "state": job.state.value,
        "reason": job.reason,
        "created": timestamp(job.created),
        "started": timestamp(job.started) if job.started else None,
        "finished": timestamp(job.finished) if job.finished else None,
        "details": details,
        "dagster_run_id": job.dagster_run_id,
    }
    out = _compact(record)
    out.setdefault("stats", {})
    return out


def datum_info(pipeline: str, job_id: str, d: DatumInfo) -> Json:
    state = {
        "SUCCESS": "SUCCESS",
        "FAILED": "FAILED",
        "SKIPPED": "SKIPPED",
        "RECOVERED": "RECOVERED",
        "STARTING": "STARTING",
    }[d.state.value]
    files = []
    for ref in d.files:
        repo_commit, _, path = ref.partition(":")
        repo, _, cid = repo_commit.partition("@")
        owner = {"branch": {"repo": {"name": repo, "type": "user"}}, "id": cid}
        files.append({"file": {"commit": owner, "path": path}})
    return _compact(
        {
            "datum": {"job": {"pipeline": {"name": pipeline}, "id": job_id}, "id": d.id},
            "state": state,
            "stats": stats(d.stats),
            "data": files,
            "reason": d.reason,
        }
    )


def pipeline_info(record: dict[str, Any]) -> Json:
    return _compact(
        {
            "pipeline": {"name": record["name"]},
            "version": str(record["version"]),
            "details": _compact(
                {
                    "transform": record.get("transform"),
                    "input": record.get("input"),
                    "output_branch": record.get("output_branch"),
                    "description": record.get("description"),
                    "salt": record.get("salt"),
                    "created_at": record.get("created"),
                }
            ),
        }
    )


def input_text(spec: Any) -> str:
    """pachctl's shorthand input: ``images:/*``, ``(a:/* ⨯ b:/*)``, ``(a:/ ∪ b:/)``."""  # noqa: RUF002
    if "pfs" in spec:
        pfs = spec["pfs"]
        return f"{pfs['repo']}:{pfs.get('glob', '/*')}"
    if "cron" in spec:
        return f"{spec['cron']['name']}:{spec['cron']['spec']}"
    ((kind, children),) = spec.items()
    sep = {"cross": " ⨯ ", "union": " ∪ ", "join": " ⋈ ", "group": ", "}[kind]  # noqa: RUF001
    inner = sep.join(input_text(c) for c in children)
    return f"group({inner})" if kind == "group" else f"({inner})"


def job_details(job: JobInfo) -> list[tuple[str, str]]:
    """``inspect job`` lines, in pachctl's order."""
    from dagster_versioned.pps.pretty import state_text

    run = "-"
    if job.started and job.finished:
        run = human_duration((job.finished - job.started).total_seconds())
    details = job.details
    s = job.stats
    return [
        ("ID", job.id),
        ("Pipeline", job.pipeline),
        ("Started", ago(job.started)),
        ("Duration", run),
        ("State", state_text(job).split(":")[0]),
        ("Reason", job.reason),
        ("Processed", str(job.data_processed)),
        ("Failed", str(job.data_failed)),
        ("Skipped", str(job.data_skipped)),
        ("Recovered", str(job.data_recovered)),
        ("Total", str(job.data_total)),
        ("Data Downloaded", bytes_size(s.download_bytes)),
        ("Data Uploaded", bytes_size(s.upload_bytes)),
        ("Download Time", human_duration(s.download_time)),
        ("Process Time", human_duration(s.process_time)),
        ("Upload Time", human_duration(s.upload_time)),
        ("Datum Timeout", str(details.get("datum_timeout", "-"))),
        ("Job Timeout", str(details.get("job_timeout", "-"))),
        ("Restarts", str(job.restart)),
        ("ParallelismSpec", json.dumps(details.get("parallelism_spec", {}))),
        ("Input", json.dumps(details.get("input", {}), indent=2)),
        ("Transform", json.dumps(details.get("transform", {}), indent=2)),
        ("Output Commit", job.output_commit or "-"),
        ("Egress", json.dumps(details["egress"]) if "egress" in details else "-"),
        ("Dagster Run", job.dagster_run_id or "-"),
    ]
