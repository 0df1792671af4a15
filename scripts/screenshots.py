"""Screenshots of the Dagster UI for the docs, taken from ``dagster dev`` by headless Chromium.

Usage: ``.venv/bin/python scripts/screenshots.py [--out docs/images]``.

It starts ``dagster dev -f definitions.py`` on a free port with a temporary DAGSTER_HOME and store
(the starter of the end-to-end tests, ``tests/e2e/deployment.py``), puts every example's seed data,
asks for a batch of the ``nightly_search`` grid job, adds one more picture so ``edges`` shows
skipped datums, waits until every run has succeeded, and then shoots each page of ``SHOTS`` at a
fixed 1400x900 viewport with Debian's ``/usr/bin/chromium`` driven by playwright (no browser
download). A page is shot only once the texts it is meant to show are on it and the UI has been
quiet (no spinner, no "Loading…") for two seconds, so a picture never shows a half-loaded page and
a renamed metadata label or route fails the script instead of producing a misleading picture.

``tests/e2e/test_ui_browser.py`` runs one of these shots on every test run, so this script cannot
rot unnoticed.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from playwright.sync_api import BrowserContext, Page, ViewportSize, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "tests"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from e2e.deployment import (  # noqa: E402 - needs the path above
    BIN,
    Deployment,
    dagster_home,
    deployment,
    free_port,
    run_cli,
)

from dagster_versioned import GLOBAL_ID_TAG  # noqa: E402

# Debian's package by default; DV_CHROMIUM names another Chromium build (never downloaded).
CHROMIUM = Path(os.environ.get("DV_CHROMIUM", "/usr/bin/chromium"))
# Without the background-networking flags Chromium phones home at start, and in a closed network
# those refused connections slow every launch down.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
VIEWPORT: ViewportSize = {"width": 1400, "height": 900}
# The "Join the Dagster community" dialog covers the first page a new browser profile opens.
SKIP_COMMUNITY_DIALOG = "try { localStorage.setItem('communityNux', '\"1\"') } catch (e) {}"
BUSY_TEXTS = ("Loading…", "Loading...", "fetching statuses")
QUIET_SECONDS = 2.0
PAGE_SECONDS = 60.0
GRID_JOB = "nightly_search"
GRID_CELLS = 8
GRID_JOB_NAME_TAG = "dagster_versioned/grid_job_name"
LOCATION = "definitions.py"
IMAGES_HEAD_RE = re.compile(r"images@master is now ([0-9a-f]{32})")
SEEDED_IMAGES_RE = re.compile(r"images@master: ([0-9a-f]{32})")

LOCATIONS_QUERY = """
{ workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus } } } }
"""
ALL_RUNS_QUERY = "{ runsOrError { __typename ... on Runs { results { runId status } } } }"
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}


class ScreenshotError(RuntimeError):
    """The UI did not show what a screenshot is meant to show, or Chromium is missing."""


@dataclass(frozen=True, kw_only=True)
class UiFacts:
    """What the pictures must show, read from Dagster's GraphQL API before the browser opens."""

    global_id: str
    """The global ID of the latest ``images@master`` commit, its run and ``edges`` job."""
    output_commit: str
    """The commit of ``edges`` made by that job (the asset's latest materialisation)."""
    grid_partition: str | None = None
    """A cell of the ``nightly_search`` grid job, when the grid job ran."""


@dataclass(frozen=True, kw_only=True)
class Shot:
    """One picture: the page, what must be on it before it is taken, and its alt text."""

    name: str
    """File stem: ``docs/images/<name>.png``."""
    alt: str
    """What the picture shows; the docs use it as alt text."""
    path: Callable[[UiFacts], str]
    """The UI route to open."""
    expect: Callable[[UiFacts], list[str]]
    """Texts that must be visible on the page (after ``then``) for the picture to be right."""
    then: Callable[[Page, UiFacts], None] | None = None
    """A click to make after the page settles (open a dialog, select a partition)."""


def _runs_filtered_by_global_id(facts: UiFacts) -> str:
    return "/runs?" + urlencode({"q[0]": f"tag:{GLOBAL_ID_TAG}={facts.global_id}"})


def _show_the_whole_filter(page: Page, facts: UiFacts) -> None:
    """Hover the filter chip, which the UI truncates, so its tooltip shows the whole tag."""
    page.locator(f"[data-tooltip='{GLOBAL_ID_TAG}={facts.global_id}']").first.hover()


def _grid_partition(facts: UiFacts) -> str:
    if facts.grid_partition is None:
        raise ScreenshotError(f"no run of the grid job {GRID_JOB} to show")
    return f"/assets/{GRID_JOB}/fit?view=partitions&partition={quote(facts.grid_partition)}"


SHOTS: tuple[Shot, ...] = (
    Shot(
        name="asset-graph",
        alt="The images asset group in the Dagster UI: the input repo images feeds edges, "
        "which feeds montage, each with its latest materialisation and asset check.",
        path=lambda f: f"/locations/{LOCATION}/asset-groups/images",
        expect=lambda f: ["edges", "montage", "images", "Latest event", "Asset checks"],
    ),
    Shot(
        name="edges-materialization",
        alt="The latest materialisation of edges with its versioning metadata: global_id, "
        "job edges@<id>, state success, progress '1 + 3 / 4' (one new datum processed, three "
        "skipped), output_commit and the dv:// URL of the output commit.",
        path=lambda f: "/assets/edges?view=events",
        expect=lambda f: [
            f.global_id,
            "progress",
            "output_commit",
            f.output_commit,
            f"dv://edges@{f.output_commit}/",
        ],
    ),
    Shot(
        name="runs-global-id",
        alt="The runs list filtered by the tag dagster_versioned/global_id=<id> (the filter's "
        "tooltip shows it whole): the one run of that commit, with its global ID and input "
        "commit tags, succeeded.",
        path=_runs_filtered_by_global_id,
        then=_show_the_whole_filter,
        # The filter, not a dialog over the list: a modal greyed out the filter it is about.
        expect=lambda f: [f"{GLOBAL_ID_TAG}={f.global_id}", "Success", "Tag is"],
    ),
    Shot(
        name="grid-partitions",
        alt="The nightly_search grid job's asset: one partition per grid cell (8), all "
        "materialised, one cell selected with its parameters and snapshot commit.",
        path=_grid_partition,
        expect=lambda f: [f"Materialized ({GRID_CELLS})", "parameters", "snapshot"],
    ),
    Shot(
        name="asset-checks",
        alt="The datums_succeeded asset check of edges: passed, with the counts of failed, "
        "recovered and total datums of the latest job.",
        path=lambda f: "/assets/edges?view=checks",
        expect=lambda f: ["datums_succeeded", "Passed", "recovered"],
    ),
)


# ---------------------------------------------------------------- the browser


@contextmanager
def chromium() -> Iterator[BrowserContext]:
    """Debian's Chromium, headless, with a fresh profile that is deleted afterwards."""
    if not CHROMIUM.exists():
        raise ScreenshotError(f"{CHROMIUM} is missing: install Debian's chromium package")
    with (
        tempfile.TemporaryDirectory(prefix="dv-chromium-", ignore_cleanup_errors=True) as profile,
        sync_playwright() as pw,
    ):
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            args=list(CHROMIUM_ARGS),
            headless=True,
            viewport=VIEWPORT,
            device_scale_factor=1,
            locale="en-US",
            timezone_id="UTC",
            color_scheme="light",
        )
        context.add_init_script(SKIP_COMMUNITY_DIALOG)
        try:
            yield context
        finally:
            context.close()


def settle(page: Page, timeout: float = PAGE_SECONDS) -> None:
    """Wait until the UI has shown no spinner and no "Loading…" for ``QUIET_SECONDS``.

    Dagster's UI loads in waves (the graph, then statuses, then automation details), so one quiet
    moment is not enough: the page must stay quiet for a while.
    """
    deadline = time.monotonic() + timeout
    quiet_since: float | None = None
    while time.monotonic() < deadline:
        body = page.inner_text("body")
        busy = page.locator("[role=progressbar]:visible").count() > 0 or any(
            text in body for text in BUSY_TEXTS
        )
        now = time.monotonic()
        if busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = now
        elif now - quiet_since >= QUIET_SECONDS:
            return
        time.sleep(0.2)
    raise ScreenshotError(f"{page.url} was still loading after {timeout:.0f}s")


def expect_texts(page: Page, texts: list[str], timeout: float = PAGE_SECONDS) -> None:
    """Wait until every text is visible on the page; name the missing ones otherwise."""
    deadline = time.monotonic() + timeout
    missing = texts
    while time.monotonic() < deadline:
        missing = [t for t in texts if not page.get_by_text(t).first.is_visible()]
        if not missing:
            return
        time.sleep(0.25)
    raise ScreenshotError(f"{page.url} does not show {missing!r} after {timeout:.0f}s")


def shoot(page: Page, base_url: str, shot: Shot, facts: UiFacts, out: Path) -> Path:
    """Open the shot's page, wait for what it must show and for quiet, and save the PNG."""
    page.goto(base_url + shot.path(facts))
    if shot.then is not None:
        settle(page)  # click on the finished page, not on a placeholder
        shot.then(page, facts)
    expect_texts(page, shot.expect(facts))
    settle(page)
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{shot.name}.png"
    page.screenshot(path=str(target))
    return target


# ---------------------------------------------------------------- dagster dev and its data


@contextmanager
def dagster_dev(tmp: Path) -> Iterator[tuple[Deployment, dict[str, str]]]:
    """``dagster dev -f definitions.py`` on a free port, a temporary home and store.

    Yields once GraphQL answers and the code location has loaded (so the grid job's record
    exists and the sensors run), with the environment that ``dvctl`` and the seed scripts need.
    """
    env = {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home(tmp)),
        "DAGSTER_VERSIONED_STORAGE": str(tmp / "store"),
    }
    port = free_port()
    command = [str(BIN / "dagster"), "dev", "-f", str(ROOT / "definitions.py"),
               "-h", "127.0.0.1", "-p", str(port)]  # fmt: skip
    with deployment([command], port=port, cwd=tmp, env=env, logs=tmp) as dev:
        dev.wait_for("the GraphQL endpoint", dev.answers_graphql)
        dev.wait_for("the code location to load", lambda: _location_loaded(dev))
        yield dev, env


def _location_loaded(dev: Deployment) -> bool:
    data = dev.graphql(LOCATIONS_QUERY)["workspaceOrError"]
    entries = data.get("locationEntries", [])
    return bool(entries) and all(e["loadStatus"] == "LOADED" for e in entries)


def seed_images(env: dict[str, str], cwd: Path, count: int, start: int = 0) -> str:
    """Commit ``count`` pictures to ``images@master`` with the example's seed script; the head."""
    out = run_cli(
        [sys.executable, str(ROOT / "examples/images/seed.py"), "--count", str(count),
         "--start", str(start)],
        env, cwd,
    )  # fmt: skip
    found = IMAGES_HEAD_RE.search(out)
    if not found:
        raise ScreenshotError(f"the images seed script did not print the new head:\n{out}")
    return found.group(1)


def wait_for_success(dev: Deployment, key: str, value: str, count: int) -> list[dict[str, Any]]:
    """Wait for ``count`` finished runs tagged ``key=value``; fail unless all succeeded."""

    def finished() -> list[dict[str, Any]] | None:
        runs = dev.finished_runs_tagged(key, value)
        return runs if runs and len(runs) >= count else None

    runs = dev.wait_for(f"{count} finished runs tagged {key}={value}", finished)
    for run in runs:
        if run["status"] != "SUCCESS":
            raise ScreenshotError(f"run {run['runId']} failed:\n{dev.run_errors(run['runId'])}")
    return runs


def all_runs_finished(dev: Deployment) -> bool:
    runs = dev.graphql(ALL_RUNS_QUERY)["runsOrError"]["results"]
    return all(run["status"] in TERMINAL for run in runs)


def seed_everything(dev: Deployment, env: dict[str, str], cwd: Path) -> UiFacts:
    """Every example's data, one grid batch and a second picture commit, all runs succeeded."""
    out = run_cli([sys.executable, str(ROOT / "examples/seed.py")], env, cwd)
    run_cli([str(BIN / "dvctl"), "grid", "run-now", GRID_JOB], env, cwd)
    found = SEEDED_IMAGES_RE.search(out)
    if not found:
        raise ScreenshotError(f"examples/seed.py did not print the images head:\n{out}")
    first = found.group(1)
    wait_for_success(dev, GLOBAL_ID_TAG, first, 1)
    second = seed_images(env, cwd, count=1, start=3)  # edges: 1 datum processed, 3 skipped
    wait_for_success(dev, GLOBAL_ID_TAG, second, 1)
    grid = wait_for_success(dev, GRID_JOB_NAME_TAG, GRID_JOB, GRID_CELLS)
    dev.wait_for("every run to finish", lambda: all_runs_finished(dev))
    _, edges = dev.latest_materialization("edges")
    if edges["global_id"] != second:
        raise ScreenshotError(f"edges was last made by {edges['global_id']}, not {second}")
    partition = next(t["value"] for t in grid[0]["tags"] if t["key"] == "dagster/partition")
    return UiFacts(
        global_id=second, output_commit=str(edges["output_commit"]), grid_partition=partition
    )


def take_screenshots(out: Path, shots: tuple[Shot, ...] = SHOTS) -> list[Path]:
    """The whole job: a temporary ``dagster dev``, its data, and the pictures in ``out``."""
    with (
        tempfile.TemporaryDirectory(prefix="dv-screenshots-", ignore_cleanup_errors=True) as tmp,
        dagster_dev(Path(tmp)) as (dev, env),
    ):
        facts = seed_everything(dev, env, Path(tmp))
        with chromium() as browser:
            page = browser.new_page()
            return [shoot(page, f"http://127.0.0.1:{dev.port}", shot, facts, out) for shot in shots]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs/images", help="PNG directory")
    parser.add_argument("--only", action="append", choices=[s.name for s in SHOTS],
                        help="take only this shot (repeatable)")  # fmt: skip
    args = parser.parse_args(argv)
    shots = tuple(s for s in SHOTS if not args.only or s.name in args.only)
    started = time.monotonic()
    try:
        paths = take_screenshots(args.out, shots)
    except (ScreenshotError, pytest.fail.Exception) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for path in paths:
        print(path)
    print(f"{len(paths)} screenshots in {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
