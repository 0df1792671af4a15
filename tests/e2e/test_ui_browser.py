"""The Dagster UI, in a real browser, shows our versioning metadata for an asset's latest job.

``dagster dev -f definitions.py`` runs on a free port with a temporary DAGSTER_HOME and store
(the starter of ``scripts/screenshots.py``, built on ``deployment.py``); the images example's
seed script commits pictures; the sensor's run materialises ``edges``. Then headless Chromium
(Debian's ``/usr/bin/chromium``, driven by playwright) opens the asset page of ``edges`` and the
test reads the metadata table from the rendered DOM: the global ID, the job and the output commit
must be what ``dvctl list job`` and the store say. Finally one of the docs' screenshots is taken
into ``tmp_path`` with the script's own code, so the script cannot rot unnoticed.

Without Chromium the test is skipped with the reason, except in CI (``CI=true``), where it fails:
CI installs Debian's ``chromium`` package.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest
from PIL import Image

from dagster_versioned import GLOBAL_ID_TAG
from dagster_versioned.store import Store

from .deployment import BIN, ROOT, raw_records, run_cli

CHROMIUM = Path(os.environ.get("DV_CHROMIUM", "/usr/bin/chromium"))  # as the script


@pytest.fixture
def screenshots() -> ModuleType:
    """``scripts/screenshots.py`` as a module, once Chromium is known to be there."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (apt-get install chromium) — the UI browser test needs it"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    spec = importlib.util.spec_from_file_location("dv_screenshots", ROOT / "scripts/screenshots.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being created
    spec.loader.exec_module(module)
    return module


def metadata_table(page) -> dict[str, str]:
    """The metadata table as rendered: first cell (the label) → last cell (the value)."""
    table: dict[str, str] = {}
    for row in page.locator("tr").all():
        cells = [c.strip() for c in row.locator("td").all_inner_texts()]
        if len(cells) >= 2:
            table.setdefault(cells[0], cells[-1])
    return table


@pytest.mark.dagster
@pytest.mark.slow
def test_edges_asset_page_shows_the_global_id_and_commit_of_its_latest_job(
    tmp_path: Path, screenshots: ModuleType
) -> None:
    with screenshots.dagster_dev(tmp_path) as (dev, env):
        head = screenshots.seed_images(env, tmp_path, count=2)
        screenshots.wait_for_success(dev, GLOBAL_ID_TAG, head, 1)
        jobs = raw_records(run_cli([str(BIN / "dvctl"), "list", "job", head, "--raw"], env,
                                   tmp_path))  # fmt: skip
        (job,) = (j for j in jobs if j["job"]["pipeline"]["name"] == "edges")
        commit = job["output_commit"]["id"]
        assert Store.open(env["DAGSTER_VERSIONED_STORAGE"]).inspect_commit("edges@master").id == (
            commit
        )

        base = f"http://127.0.0.1:{dev.port}"
        with screenshots.chromium() as browser:
            page = browser.new_page()
            page.goto(f"{base}/assets/edges")
            screenshots.expect_texts(page, ["Metadata", "global_id", "output_commit"])
            screenshots.settle(page)
            shown = metadata_table(page)
            assert shown.get("global_id") == head, shown
            assert shown.get("job") == f"edges@{head}", shown
            assert shown.get("output_commit") == commit, shown
            assert shown.get("progress") == "2 + 0 / 2", shown  # one datum per picture
            assert shown.get("url") == f"dv://edges@{commit}/", shown

            # One picture of the docs, by the script's own code.
            shot = next(s for s in screenshots.SHOTS if s.name == "edges-materialization")
            facts = screenshots.UiFacts(global_id=head, output_commit=commit)
            png = screenshots.shoot(page, base, shot, facts, tmp_path / "images")
    with Image.open(png) as picture:
        assert picture.size == (1400, 900)
