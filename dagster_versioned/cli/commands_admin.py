"""``dvctl fsck`` and ``dvctl gc``: verify the store, and reclaim objects nothing references."""

from __future__ import annotations

import click

from dagster_versioned.cli.app import CONTEXT_SETTINGS, cli, echo, fail, store


def parse_grace(text: str) -> float:
    """``1h``, ``30m``, ``90s``, ``2d``, ``1h30m`` or a number of seconds."""
    from dagster_versioned.durations import parse_duration
    from dagster_versioned.errors import InvalidDuration

    try:
        return parse_duration(text, "--grace", unitless=True)
    except InvalidDuration as e:
        fail(str(e))


@cli.command("fsck", context_settings=CONTEXT_SETTINGS, short_help="Check the store's integrity.")
@click.option("--fix", is_flag=True, help="Repair what can be repaired without losing data.")
def fsck_command(fix: bool) -> None:
    """Verify every object hash and every reference: ref → commit → tree → objects, and job
    records → output commits. Exit status 1 if anything is wrong (and not fixed)."""
    import dagster_versioned.pps  # noqa: F401  (registers the job-record check with fsck)
    from dagster_versioned.store.maintenance import fsck

    report = fsck(store(), fix=fix)
    for line in report.fixed:
        echo(f"fixed: {line}")
    for line in report.problems:
        echo(f"problem: {line}")
    for line in report.leftovers:
        echo(f"leftover: {line}")
    leftovers = f", {len(report.leftovers)} leftovers (dvctl fsck --fix removes them)"
    echo(
        f"checked {report.commits} commits and {report.objects} objects: "
        f"{len(report.problems)} problems, {len(report.fixed)} fixed"
        f"{leftovers if report.leftovers and not fix else ''}"
    )
    if report.problems and len(report.fixed) < len(report.problems):
        raise SystemExit(1)


@cli.command("gc", context_settings=CONTEXT_SETTINGS, short_help="Delete unreferenced objects.")
@click.option(
    "--grace", default="1h", show_default=True, help="Never delete an object younger than this."
)
@click.option("--dry-run", is_flag=True, help="Only say what would be deleted.")
def gc_command(grace: str, dry_run: bool) -> None:
    """Delete objects that no commit references and that are older than the grace period.
    Safe while writers run."""
    from dagster_versioned.store.maintenance import gc

    report = gc(store(), grace=parse_grace(grace), dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    from dagster_versioned.units import bytes_size

    packs = f"; {len(report.packs_deleted)} whole packs" if report.packs_deleted else ""
    echo(
        f"{verb} {len(report.deleted)} unreferenced objects ({bytes_size(report.bytes_freed)}"
        f"{packs}); kept {report.reachable} referenced and {report.kept_young} younger than {grace}"
    )
    if report.packs_partly_dead:
        echo(
            f"kept {report.packs_partly_dead} packs that still hold referenced objects, with "
            f"{bytes_size(report.dead_bytes_kept)} of unreferenced objects inside them"
        )
