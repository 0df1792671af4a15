"""Set up ``measurements``: a trigger on ``master`` and some hourly commits on ``staging``.

Usage: ``.venv/bin/python examples/deferred/seed.py [--storage URL] [--hours N]``
"""

from __future__ import annotations

import argparse
import random

from dagster_versioned.errors import AlreadyExists
from dagster_versioned.store import Store, Trigger
from dagster_versioned.store.location import default_storage_url

TRIGGER = Trigger(branch="staging", size="10KB", cron="@daily")


def hour_of_data(hour: int, rows: int = 200) -> bytes:
    rng = random.Random(hour)
    lines = ["x,y"]
    for _ in range(rows):
        x = rng.uniform(0, 100)
        lines.append(f"{x:.3f},{3 * x + 7 + rng.gauss(0, 5):.3f}")
    return ("\n".join(lines) + "\n").encode()


def seed(storage: str, hours: int = 4, start: int = 0) -> None:
    store = Store.open(storage)
    try:
        store.create_repo("measurements", description="Hourly sensor readings.")
        store.create_branch("measurements@master", trigger=TRIGGER)
    except AlreadyExists:
        pass
    for hour in range(start, start + hours):
        store.put_file(f"measurements@staging:/hour-{hour:04d}.csv", hour_of_data(hour))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--storage", default=None, help="store URL (default: as dvctl)")
    parser.add_argument("--hours", type=int, default=4)
    parser.add_argument("--start", type=int, default=0)
    args = parser.parse_args()
    seed(args.storage or default_storage_url(), args.hours, args.start)
    store = Store.open(args.storage or default_storage_url())
    for b in store.list_branch("measurements"):
        print(f"{b.name:8} {b.head} {b.trigger.describe() if b.trigger else '-'}")


if __name__ == "__main__":
    main()
