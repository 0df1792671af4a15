"""Seed every example's input repos (images, measurements, texts) in one go.

Usage: ``.venv/bin/python examples/seed.py [--storage URL]``; the store defaults to the one
``definitions.py`` and ``dvctl`` use from the repo root.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dagster_versioned.store.location import default_storage_url  # noqa: E402
from examples.deferred.seed import seed as seed_deferred  # noqa: E402
from examples.images.seed import seed as seed_images  # noqa: E402
from examples.spec.seed import seed as seed_spec  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--storage", default=None, help="store URL (default: as dvctl)")
    storage = parser.parse_args().storage or default_storage_url(ROOT)
    print(f"images@master: {seed_images(storage)}")
    seed_deferred(storage)
    print("measurements@staging: 4 hourly commits (master follows by trigger)")
    seed_spec(storage)
    print("texts@master: 3 texts")
    print(f"store: {storage}")


if __name__ == "__main__":
    main()
