"""The grid-search steps: make data, fit a polynomial, score it — a small stand-in for training."""

from __future__ import annotations

import json
import random

from dagster_versioned import get_pipeline_param, get_step_param


def prepare() -> list[tuple[float, float]]:
    """Noisy samples of a cubic; the seed is a pipeline parameter shared by every step."""
    rng = random.Random(get_pipeline_param("seed", 0))
    rows = get_step_param("rows", 200)
    return [
        (x, x**3 - 2 * x + rng.gauss(0, 0.5)) for x in (rng.uniform(-2, 2) for _ in range(rows))
    ]


def fit() -> str:
    """Gradient descent on a polynomial of the given degree; returns the score as JSON."""
    data = prepare()
    degree = get_step_param("degree", 1)
    lr = get_step_param("lr", 0.01)
    weights = [0.0] * (degree + 1)
    for _ in range(200):
        grads = [0.0] * len(weights)
        for x, y in data:
            err = sum(w * x**k for k, w in enumerate(weights)) - y
            for k in range(len(weights)):
                grads[k] += 2 * err * x**k / len(data)
        weights = [w - lr * g for w, g in zip(weights, grads, strict=True)]
    mse = sum((sum(w * x**k for k, w in enumerate(weights)) - y) ** 2 for x, y in data) / len(data)
    return json.dumps({"degree": degree, "lr": lr, "mse": round(mse, 4)})
