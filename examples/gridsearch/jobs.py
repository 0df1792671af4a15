"""A cron grid job over a 3-dimensional grid (seed, degree and lr = 8 cells), from a parameters
file, running a snapshot of this directory taken when the job was created."""

from __future__ import annotations

from pathlib import Path

from dagster_versioned import GridPipeline, GridStep, grid_job
from examples.gridsearch.steps import fit

HERE = Path(__file__).parent

search_pipeline = GridPipeline(
    name="search",
    parameters={"seed": 0},
    steps=[GridStep(name="fit", fn=fit, parameters={"degree": 1, "lr": 0.01})],
)


def search_job(storage: str):  # noqa: ANN201 - a GridJob
    return grid_job(
        "nightly_search",
        search_pipeline,
        str(HERE / "search.parameters.json"),
        schedule="0 3 * * *",
        snapshot=HERE,
        max_retained_runs=20,
        allow_overlap=False,
        storage=storage,
    )
