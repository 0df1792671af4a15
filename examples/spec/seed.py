"""Put a few texts into ``texts@master`` for the ``wordcount`` spec pipeline.

Usage: ``.venv/bin/python examples/spec/seed.py [--storage URL]``
"""

from __future__ import annotations

import argparse
import contextlib

from dagster_versioned.errors import AlreadyExists
from dagster_versioned.store import Store
from dagster_versioned.store.location import default_storage_url

TEXTS = {
    "/pachyderm.txt": "Pachyderm is a data versioning and pipeline system.",
    "/dagster.txt": "Dagster is an orchestrator for data assets.",
    "/versioned.txt": "dagster-versioned brings versioned repos, branches and jobs to Dagster.",
}


def seed(storage: str) -> None:
    store = Store.open(storage)
    with contextlib.suppress(AlreadyExists):
        store.create_repo("texts", description="Texts for the wordcount spec pipeline.")
    with store.commit("texts@master", description="three texts") as c:
        for path, text in TEXTS.items():
            c.put_file(path, text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--storage", default=None, help="store URL (default: as dvctl)")
    seed(parser.parse_args().storage or default_storage_url())


if __name__ == "__main__":
    main()
