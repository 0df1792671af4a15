"""Job, datum and pipeline commands: ``list job``, ``inspect job``, ``wait job``, ``stop job``,
``list datum``, ``list pipeline`` — read from the job records in the store, so they work with
no Dagster process running (and never import Dagster)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import click

from dagster_versioned.cli import raw_pps
from dagster_versioned.cli.app import CONTEXT_SETTINGS, cli, echo, fail, store, verb
from dagster_versioned.cli.formatting import (
    Cell,
    ago,
    bytes_size,
    human_duration,
    print_details,
    print_table,
    progress_bar,
)
from dagster_versioned.cli.raw import dumps

if TYPE_CHECKING:
    from dagster_versioned.pps.ids import JobId
    from dagster_versioned.pps.jobs import DatumInfo, JobInfo, JobStore

JOB_HEADER = ("ID", "PIPELINE", "STARTED", "DURATION", "RESTART", "PROGRESS", "DL", "UL", "STATE")
JOB_SET_HEADER = ("ID", "SUBJOBS", "PROGRESS", "CREATED", "MODIFIED")
DATUM_HEADER = ("ID", "FILES", "STATUS", "TIME")
PIPELINE_HEADER = ("NAME", "VERSION", "INPUT", "CREATED", "STATE / LAST JOB", "DESCRIPTION")

raw_option = click.option("--raw", is_flag=True, help="Disable pretty printing; print raw JSON.")

if "stop" not in cli.commands:
    cli.add_command(
        click.Group(
            "stop", help="Cancel an ongoing task (a job).", context_settings=CONTEXT_SETTINGS
        )
    )


def _jobs() -> JobStore:
    from dagster_versioned.pps.jobs import JobStore

    return JobStore(store())


def _split_job(text: str) -> tuple[str | None, JobId]:
    """``pipeline@id`` → (pipeline, id); a bare 32-hex id → (None, id)."""
    from dagster_versioned.pps.ids import JobId
    from dagster_versioned.store.names import is_commit_id

    pipeline, at, job_id = text.partition("@")
    if not at:
        if is_commit_id(text):
            return None, JobId(text)
        fail(f"invalid job '{text}': expected <pipeline>@<job id> or a 32-hex job id")
    if not is_commit_id(job_id):
        fail(f"invalid job id '{job_id}' in '{text}': expected 32 lowercase hex digits")
    return pipeline, JobId(job_id)


def job_row(job: JobInfo) -> list[Cell]:
    from dagster_versioned.pps.pretty import progress_text, state_text

    duration = "-"
    if job.started is not None and job.finished is not None:
        duration = human_duration((job.finished - job.started).total_seconds())
    return [
        job.id,
        job.pipeline,
        ago(job.started),
        duration,
        str(job.restart),
        progress_text(job),
        bytes_size(job.stats.download_bytes),
        bytes_size(job.stats.upload_bytes),
        state_text(job),
    ]


def print_jobs(jobs: list[JobInfo], raw: bool) -> None:
    if raw:
        for job in jobs:
            echo(dumps(raw_pps.job_info(job)))
        return
    print_table(JOB_HEADER, [job_row(j) for j in jobs])


@verb("list").command("job", short_help="Return info about jobs.")
@click.argument("job_id", metavar="[<job-id>]", required=False)
@click.option("-p", "--pipeline", help="Limit to jobs made by this pipeline.")
@click.option(
    "--history",
    default="none",
    help="Jobs from historical versions of pipelines: a number of versions, or 'all'.",
)
@click.option("-x", "--expand", is_flag=True, help="Show one line per job, not per global job.")
@raw_option
def list_job(
    job_id: str | None, pipeline: str | None, history: str, expand: bool, raw: bool
) -> None:
    """Return info about jobs: global jobs with no argument, the jobs of one global id with one.

    \b
    Examples:
      dvctl list job                  # every global job
      dvctl list job -p edges         # the jobs of pipeline edges
      dvctl list job <id>             # the jobs of global job <id>, one per pipeline
    """
    jobs = _jobs()
    if job_id is not None:
        _, gid = _split_job(job_id)
        print_jobs(jobs.list_job_set(gid), raw)
        return
    if pipeline is not None or expand or raw:
        found = jobs.list_jobs(pipeline)
        if pipeline is not None:
            found = _filter_history(jobs, pipeline, found, history)
        print_jobs(found, raw)
        return
    _print_job_sets(jobs.list_jobs())


def _filter_history(
    jobs: JobStore, pipeline: str, found: list[JobInfo], history: str
) -> list[JobInfo]:
    record = jobs.load_pipeline(pipeline)
    if record is None or history == "all":
        return found
    if history == "none":
        keep = 0
    else:
        try:
            keep = int(history)
        except ValueError:
            fail(f"invalid --history '{history}': use a number of versions or 'all'")
        if keep < 0:
            fail(f"invalid --history '{history}': use a number ≥ 0 or 'all'")
    oldest = int(record["version"]) - keep
    return [j for j in found if j.pipeline_version >= oldest]


def _print_job_sets(all_jobs: list[JobInfo]) -> None:
    sets: dict[str, list[JobInfo]] = {}
    for job in all_jobs:
        sets.setdefault(job.id, []).append(job)
    rows: list[list[Cell]] = []
    ordered = sorted(sets.values(), key=lambda js: min(j.created for j in js), reverse=True)
    for js in ordered:
        green = sum(1 for j in js if j.state.value == "JOB_SUCCESS")
        red = sum(1 for j in js if j.state.terminal and j.state.value != "JOB_SUCCESS")
        yellow = len(js) - green - red
        modified = max((j.finished or j.started or j.created) for j in js)
        rows.append(
            [
                js[0].id,
                str(len(js)),
                progress_bar(8, green, yellow, red),
                ago(min(j.created for j in js)),
                ago(modified),
            ]
        )
    print_table(JOB_SET_HEADER, rows)


@verb("inspect").command("job", short_help="Return info about a job.")
@click.argument("job", metavar="<pipeline>@<job>")
@raw_option
def inspect_job(job: str, raw: bool) -> None:
    """Return info about a job."""
    pipeline, job_id = _split_job(job)
    if pipeline is None:
        fail(f'Use "list job {job_id}" to see jobs with a given ID across different pipelines')
    info = _jobs().load_job(pipeline, job_id)
    if raw:
        echo(dumps(raw_pps.job_info(info)))
        return
    print_details(raw_pps.job_details(info))


@verb("wait").command("job", short_help="Wait for a job to finish then return info about it.")
@click.argument("job", metavar="<pipeline>@<job>|<job>")
@click.option("--timeout", type=float, default=None, help="Give up after this many seconds.")
@raw_option
def wait_job(job: str, timeout: float | None, raw: bool) -> None:
    """Wait for a job (or every job of a global id) to finish, then print it."""
    pipeline, job_id = _split_job(job)
    jobs = _jobs()
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = 0.1
    while True:
        found = [jobs.load_job(pipeline, job_id)] if pipeline else jobs.list_job_set(job_id)
        if not found:
            fail(f"no jobs with id {job_id}")
        if all(j.state.terminal for j in found):
            print_jobs(found, raw)
            return
        if deadline is not None and time.monotonic() > deadline:
            fail(f"job {job} did not finish within {timeout:g} seconds")
        time.sleep(delay)
        delay = min(delay * 1.5, 1.0)


@verb("stop").command("job", short_help="Stop a job.")
@click.argument("job", metavar="<pipeline>@<job>")
def stop_job(job: str) -> None:
    """Stop a job: its remaining datums are not processed and it ends KILLED."""
    pipeline, job_id = _split_job(job)
    if pipeline is None:
        fail("stop job needs <pipeline>@<job id>")
    jobs = _jobs()
    info = jobs.load_job(pipeline, job_id)
    if info.state.terminal:
        fail(f"job {job} already ended ({info.state.short})")
    jobs.request_stop(pipeline, job_id)


def datum_row(d: DatumInfo) -> list[Cell]:
    total = d.stats.download_time + d.stats.process_time + d.stats.upload_time
    timing = human_duration(total) if d.state.value != "SKIPPED" else "-"
    return [d.id, ", ".join(d.files), d.state.value.lower(), timing]


@verb("list").command("datum", short_help="Return the datums in a job.")
@click.argument("job", metavar="<pipeline>@<job>")
@raw_option
def list_datum(job: str, raw: bool) -> None:
    """Return the datums in a job, with their state: success, failed, skipped or recovered."""
    pipeline, job_id = _split_job(job)
    if pipeline is None:
        fail("list datum needs <pipeline>@<job id>")
    jobs = _jobs()
    jobs.load_job(pipeline, job_id)
    datums = jobs.load_datums(pipeline, job_id)
    if raw:
        for d in datums:
            echo(dumps(raw_pps.datum_info(pipeline, job_id, d)))
        return
    print_table(DATUM_HEADER, [datum_row(d) for d in datums])


@verb("list").command("pipeline", short_help="Return info about all pipelines.")
@raw_option
def list_pipeline(raw: bool) -> None:
    """Return info about all pipelines. STATE comes from the Dagster instance in $DAGSTER_HOME
    (the pipeline's branch sensors: running or paused), '-' when it cannot be known."""
    from datetime import datetime

    from dagster_versioned.cli.pipeline_state import pipeline_state, sensor_states

    jobs = _jobs()
    records = jobs.list_pipelines()
    if raw:
        for record in records:
            echo(dumps(raw_pps.pipeline_info(record)))
        return
    sensors = sensor_states() if records else None
    rows: list[list[Cell]] = []
    for record in records:
        latest = next(iter(jobs.list_jobs(record["name"])), None)
        last = latest.state.short if latest else "-"
        created = datetime.fromisoformat(record["created"])
        rows.append(
            [
                record["name"],
                str(record["version"]),
                raw_pps.input_text(record["input"]),
                ago(created),
                f"{pipeline_state(record, sensors)} / {last}",
                record.get("description", ""),
            ]
        )
    print_table(PIPELINE_HEADER, rows)


@verb("inspect").command("pipeline", short_help="Return info about a pipeline.")
@click.argument("pipeline", metavar="<pipeline>")
@raw_option
def inspect_pipeline(pipeline: str, raw: bool) -> None:
    """Return a pipeline's spec as recorded by its last job: version, input, transform, salt,
    output branch, and its state (from the Dagster instance, '-' when unknown)."""
    import json

    from dagster_versioned.cli.pipeline_state import pipeline_state, sensor_states

    jobs = _jobs()
    record = jobs.load_pipeline(pipeline)
    if record is None:
        names = [r["name"] for r in jobs.list_pipelines()]
        known = f"known pipelines are {', '.join(names)}" if names else "no pipeline ran here yet"
        fail(f"pipeline '{pipeline}' not found: {known}")
    state = pipeline_state(record, sensor_states())
    if raw:
        echo(dumps({**raw_pps.pipeline_info(record), "state": state}))
        return
    latest = next(iter(jobs.list_jobs(pipeline)), None)
    print_details(
        [
            ("Name", record["name"]),
            ("Version", str(record["version"])),
            ("Description", record.get("description", "")),
            ("Created", ago(datetime_of(record["created"]))),
            ("State", state),
            ("Last Job", f"{latest.id} ({latest.state.short})" if latest else "-"),
            ("Input", raw_pps.input_text(record["input"])),
            ("Output Branch", record.get("output_branch", "master")),
            ("Salt", record.get("salt", "")),
            ("Transform", json.dumps(record.get("transform"), sort_keys=True)),
        ]
    )


def datetime_of(text: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(text)
