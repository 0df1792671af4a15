"""Grid-job commands: ``list grid-job``, ``inspect grid-job``, and the ``grid`` group.

Everything here reads the grid-job records in the store (``dagster_versioned.gridcore.records``)
and never imports Dagster: statuses are the run states the job's sensor last copied into the
store. ``grid pause|resume|run-now|cancel`` change the record; the sensor acts on its next tick.
``grid expand FILE`` validates a parameters file and prints its cells in canonical order.
``grid update NAME [FILE]`` applies a parameters file edited after the job was created (the
stored job, not the file, is what runs; without this an edit would go unnoticed).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from dagster_versioned.cli.app import CONTEXT_SETTINGS, cli, echo, store, verb
from dagster_versioned.cli.formatting import ago, print_details, print_table

if TYPE_CHECKING:
    from dagster_versioned.gridcore.records import BatchRecord, GridJobRecord, RunState

JOB_HEADER = ("NAME", "ID", "PIPELINE", "SCHEDULE", "STATUS", "BATCHES", "RUNS", "CREATED")
CELL_HEADER = ("CELL", "KEY", "PARAMETERS")
BATCH_HEADER = ("BATCH", "TRIGGER", "SCHEDULED", "STATUS", "RUNS", "GLOBAL ID")

raw_option = click.option("--raw", is_flag=True, help="Disable pretty printing; print raw JSON.")


def _jobs() -> Any:
    from dagster_versioned.gridcore.records import GridJobStore

    return GridJobStore(store())


def _schedule_text(record: GridJobRecord) -> str:
    if record.schedule:
        return record.schedule
    if record.start_at is not None:
        return f"at {record.start_at.strftime('%Y-%m-%d %H:%M:%S')}Z"
    return "once"


def _runs_text(batches: list[tuple[BatchRecord, dict[int, RunState]]]) -> str:
    total = sum(len(b.cells) for b, _ in batches)
    ended = sum(1 for _, states in batches for s in states.values() if s.status.ended)
    failed = sum(1 for _, states in batches for s in states.values() if s.status.value == "FAILURE")
    return f"{ended}/{total}" + (f" ({failed} failed)" if failed else "")


def _summary(record: GridJobRecord) -> tuple[str, list[tuple[BatchRecord, dict[int, RunState]]]]:
    from dagster_versioned.gridcore.records import derive_status

    batches = _jobs().batches_with_states(record.name)
    return derive_status(record, batches).value, batches


@verb("list").command("grid-job", short_help="Return a list of grid jobs.")
@raw_option
def list_grid_job(raw: bool) -> None:
    """Return the grid jobs in the store, newest first."""
    records = _jobs().list_jobs()
    now = datetime.now(UTC)
    rows = []
    for record in records:
        status, batches = _summary(record)
        if raw:
            echo(json.dumps({**record.to_json(), "derived_status": status}, separators=(",", ":")))
            continue
        rows.append(
            [
                record.name,
                record.id,
                str(record.pipeline.get("name", "")),
                _schedule_text(record),
                status,
                str(len(batches)),
                _runs_text(batches),
                ago(record.created, now),
            ]
        )
    if not raw:
        print_table(JOB_HEADER, rows)


@verb("inspect").command("grid-job", short_help="Return info about a grid job.")
@click.argument("name", metavar="<name>")
@raw_option
def inspect_grid_job(name: str, raw: bool) -> None:
    """Return info about a grid job: configuration, snapshot, parameters and batches."""
    from dagster_versioned.gridcore.grid import ParameterGrid

    record = _jobs().get(name)
    status, batches = _summary(record)
    if raw:
        out = {
            **record.to_json(),
            "derived_status": status,
            "batches": [
                {**b.to_json(), "runs": {str(k): v.to_json() for k, v in states.items()}}
                for b, states in batches
            ],
        }
        echo(json.dumps(out, separators=(",", ":")))
        return
    grid = ParameterGrid.from_json(record.grid)
    snapshot = record.snapshot or {}
    steps = ", ".join(f"{s['name']} ({s['kind']})" for s in record.pipeline.get("steps", []))
    lines = [
        ("Name", record.name),
        ("ID", record.id),
        ("Title", record.title),
        ("Pipeline", f"{record.pipeline.get('name', '')}: {steps}"),
        ("Schedule", _schedule_text(record)),
        ("Status", status),
        ("Created", ago(record.created)),
        ("Snapshot", f"{snapshot.get('repo', '')}@{snapshot['commit']}" if snapshot else "none"),
        ("Python", str(snapshot.get("python", ""))),
        (
            "Max retained runs",
            "all" if record.max_retained_runs is None else str(record.max_retained_runs),
        ),
        ("Overlap", "allowed" if record.allow_overlap else f"not allowed ({record.on_overlap})"),
        (
            "Parameters",
            ", ".join(f"{d.label}={json.dumps(list(d.options))}" for d in grid.dimensions)
            or "none",
        ),
        ("Cells", f"{len(grid.cells)} of {grid.size} selected"),
        ("Batches", str(len(batches))),
        ("Runs", _runs_text(batches)),
    ]
    print_details(lines)
    if batches:
        echo()
        print_table(BATCH_HEADER, [_batch_row(b, s) for b, s in batches])


def _batch_row(batch: BatchRecord, states: dict[int, RunState]) -> list[str]:
    from dagster_versioned.gridcore.records import batch_status

    when = batch.scheduled_time.strftime("%Y-%m-%d %H:%M:%S")
    ended = sum(1 for s in states.values() if s.status.ended)
    return [
        str(batch.index),
        batch.trigger,
        when,
        batch_status(batch, states).value,
        f"{ended}/{len(batch.cells)}",
        batch.global_id,
    ]


@cli.group("grid", context_settings=CONTEXT_SETTINGS)
def grid_group() -> None:
    """Parameter grids and grid jobs (Orchest-style)."""


@grid_group.command("expand", short_help="Validate a parameters file and list its cells.")
@click.argument("file", metavar="<file>", type=click.Path(dir_okay=False))
@click.option("--deselect", "-x", type=int, multiple=True, help="A cell index to leave out.")
@raw_option
def grid_expand(file: str, deselect: tuple[int, ...], raw: bool) -> None:
    """Read <pipeline>.parameters.json strictly and print every cell in canonical order."""
    from dagster_versioned.gridcore.params_file import read_parameters_file

    grid = read_parameters_file(file, deselected=deselect)
    cells = grid.require_cells(file)
    if raw:
        for cell in cells:
            echo(json.dumps(cell.to_json(), separators=(",", ":")))
        return
    print_table(CELL_HEADER, [[str(c.index), c.key, c.describe()] for c in cells])


@grid_group.command(
    "update", short_help="Apply an edited parameters file to a grid job's later batches."
)
@click.argument("name", metavar="<name>")
@click.argument("file", metavar="[<file>]", required=False, type=click.Path(dir_okay=False))
@click.option("--deselect", "-x", type=int, multiple=True, help="A cell index to leave out.")
def grid_update(name: str, file: str | None, deselect: tuple[int, ...]) -> None:
    """Re-read the job's parameters file (default: <project>/<pipeline>.parameters.json) and
    use it for later batches; runs that exist keep the parameters they ran with. Refused for a
    one-off job that has started and for an ended job (duplicate it instead)."""
    from dagster_versioned.gridcore import lifecycle

    record, before, changed = lifecycle.update_parameters(_jobs(), name, file, deselect=deselect)
    after = _grid_of(record)
    if not changed:
        echo(f"grid job '{name}': the parameters are unchanged ({len(after.cells)} cells)")
        return
    echo(
        f"grid job '{name}': {len(after.cells)} cells (was {len(before.cells)}), parameters "
        f"revision {record.grid_revision}; later batches use them"
    )


def _grid_of(record: GridJobRecord) -> Any:
    from dagster_versioned.gridcore.grid import ParameterGrid

    return ParameterGrid.from_json(record.grid)


def _act(action: str, name: str) -> None:
    from dagster_versioned.gridcore import lifecycle

    jobs = _jobs()
    if action == "run-now":
        request = lifecycle.request_run(jobs, name, requested_by="dvctl")
        echo(f"requested a batch of grid job '{name}' ({request})")
        return
    record = {
        "pause": lifecycle.pause,
        "resume": lifecycle.resume,
        "cancel": lifecycle.abort,
        "confirm": lifecycle.confirm,
    }[action](jobs, name)
    echo(f"grid job '{name}' is {record.status.value}")


for _action, _help in (
    ("pause", "Pause a cron grid job: no ticks launch runs."),
    ("resume", "Resume a paused cron grid job from the next tick."),
    ("run-now", "Start one extra batch with the current parameters."),
    ("cancel", "Cancel a grid job: its queued and running runs are aborted."),
    ("confirm", "Start a DRAFT grid job."),
):

    def _make(action: str) -> Any:
        @click.argument("name", metavar="<name>")
        def command(name: str) -> None:
            _act(action, name)

        return command

    grid_group.command(_action, short_help=_help, help=_help)(_make(_action))
