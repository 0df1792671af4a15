"""``dvctl restart datum P@JOB DATUM…`` and ``--failed``: rerun a job's datums as a new job.

pachctl's ``restart datum <pipeline>@<job> <datum-path1>,<datum-path2>,…`` restarts datums of a
running job. Here a job's datums are rerun after it ended: a new job with its own global id
reads the input commits of ``JOB``, skips every datum that succeeded (in ``JOB`` or in the job
of the output head) except the named ones, and writes its output commit on the output branch.
Its PROGRESS counts a datum that failed in ``JOB`` and succeeds now as recovered
(``processed + skipped + recovered / total``).

The job runs here, in dvctl's process, with no Dagster: that works for a ``transform.cmd``
pipeline, whose job record holds the command. A Python pipeline's code is known only to its
Dagster code location, so for one the command prints how to do the same from the Dagster UI
(the asset's ``reprocess``/``job`` run config) and starts nothing.
"""

from __future__ import annotations

import click

from dagster_versioned.cli.app import add_verb, fail, store

restart = add_verb("restart", "Restart a resource (the datums of a job, as a new job).")


@restart.command("datum", short_help="Rerun datums of a job as a new job.")
@click.argument("job", metavar="<pipeline>@<job>")
@click.argument("datums", nargs=-1, metavar="[<datum>...]")
@click.option("--failed", is_flag=True, help="Rerun the datums that did not succeed.")
@click.option("--all", "every", is_flag=True, help="Rerun every datum of the job.")
@click.option("--raw", is_flag=True, help="Disable pretty printing; print the new job's JSON.")
def restart_datum(job: str, datums: tuple[str, ...], failed: bool, every: bool, raw: bool) -> None:
    """Rerun datums of a job as a new job with its own global id, and print that job.

    A datum is named by its id or by an input path (``dvctl list datum P@JOB`` lists both);
    pachctl's comma-separated form (``/a.png,/b.png``) is read too. The named datums run again
    even if they succeeded; the other succeeded datums are skipped, and datums that failed run
    again in any case, since the output commit needs every datum.

    \b
    Examples:
      dvctl restart datum edges@<job> --failed     # only what failed
      dvctl restart datum edges@<job> /b.png       # /b.png's datum again (and failed ones)
      dvctl restart datum edges@<job> --all        # every datum again
    """
    from dagster_versioned.cli.commands_pps import _split_job, print_jobs
    from dagster_versioned.errors import JobFailed
    from dagster_versioned.pps.reprocess import ALL, FAILED, Reprocess
    from dagster_versioned.pps.rerun import rerun_job

    pipeline, job_id = _split_job(job)
    if pipeline is None:
        fail(f"restart datum needs <pipeline>@<job id>, got '{job}'")
    names = [n for d in datums for n in d.split(",") if n]
    chosen = [
        what for what, given in (("datums", names), ("--failed", failed), ("--all", every)) if given
    ]
    if len(chosen) != 1:
        got = " and ".join(chosen) if chosen else "none"
        fail(f"restart datum takes datum names, --failed or --all (one of them), got {got}")
    value = names if names else (FAILED if failed else ALL)
    try:
        new = rerun_job(store(), pipeline, job_id, Reprocess.parse(value))
    except JobFailed as e:
        ended = e.job
        fail(
            f"{e}; its succeeded datums are kept: rerun the rest with "
            f"`dvctl restart datum {ended.pipeline}@{ended.id} --failed`"
        )
    print_jobs([new], raw)
