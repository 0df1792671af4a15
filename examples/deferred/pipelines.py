"""Deferred processing: data lands hourly on ``staging``; ``retrain`` reads ``master``.

``master`` follows ``staging`` through a branch trigger — "10KB of new data, or a day since the
last retrain" — so the model is retrained from scratch on everything (glob ``/``: one datum, the
whole repo) a few times a day instead of on every hourly commit. The trigger is set by
``seed.py`` (the same as ``dvctl create branch measurements@master --trigger staging
--trigger-size 10KB --trigger-cron @daily``).
"""

from __future__ import annotations

import csv
import json

from dagster_versioned import Datum, pfs, pipeline


@pipeline(input=pfs("measurements", glob="/"), group_name="deferred")
def retrain(datum: Datum) -> None:
    """Least-squares fit of ``y = a·x + b`` over every CSV in the repo."""
    xs: list[float] = []
    ys: list[float] = []
    for path in datum.files("measurements"):
        with path.open(newline="") as f:
            for row in csv.DictReader(f):
                xs.append(float(row["x"]))
                ys.append(float(row["y"]))
    n = len(xs)
    mean_x, mean_y = (sum(xs) / n, sum(ys) / n) if n else (0.0, 0.0)
    var = sum((x - mean_x) ** 2 for x in xs)
    a = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0
    model = {"a": a, "b": mean_y - a * mean_x, "rows": n, "files": len(datum.files())}
    (datum.out / "model.json").write_text(json.dumps(model, indent=2))


PIPELINES = [retrain]
