"""The example pipelines in one Dagster code location: ``dagster dev -f definitions.py``.

Storage: ``$DAGSTER_VERSIONED_STORAGE`` if set, else ``.dagster_versioned/`` next to this file —
the same store ``dvctl`` uses when run from this directory. Put data in with
``.venv/bin/python examples/seed.py`` and the sensors start runs within seconds.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import dagster as dg  # noqa: E402

from dagster_versioned import versioned_definitions  # noqa: E402
from dagster_versioned.store.location import default_storage_url  # noqa: E402
from examples.deferred.pipelines import PIPELINES as DEFERRED  # noqa: E402
from examples.gridsearch.jobs import search_job  # noqa: E402
from examples.images.pipelines import PIPELINES as IMAGES  # noqa: E402
from examples.spec.pipelines import PIPELINES as SPEC  # noqa: E402

STORAGE = default_storage_url(ROOT)

defs = dg.Definitions.merge(
    versioned_definitions([*IMAGES, *DEFERRED, *SPEC], storage=STORAGE),
    search_job(STORAGE).definitions,
)
