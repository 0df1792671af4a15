"""docs/deploy.md's cluster recipes stay valid: each executor block of the page runs against the
installed dagster-dask, dagster-celery and dagster-k8s and gives definitions whose asset job uses
that executor, and the Helm values parse with the keys the chart reads."""

from __future__ import annotations

import re
from pathlib import Path

import dagster as dg
import pytest
import yaml

from examples.images.pipelines import edges, montage

PAGE = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)


def blocks(language: str, containing: str) -> list[str]:
    return [
        code
        for lang, code in BLOCK.findall(PAGE.read_text())
        if lang == language and containing in code
    ]


@pytest.mark.parametrize(
    ("executor", "executor_name"),
    [
        ("k8s_job_executor", "k8s"),
        ("dask_executor", "dask"),
        ("celery_executor", "celery"),
    ],
)
def test_the_pages_executor_recipe_loads(executor: str, executor_name: str):
    (code,) = blocks("python", f"import {executor}")
    namespace: dict[str, object] = {
        "versioned_definitions": __import__("dagster_versioned").versioned_definitions,
        "edges": edges,
        "montage": montage,
    }
    exec(compile(code, f"{PAGE}:{executor}", "exec"), namespace)
    defs = namespace["defs"]
    assert isinstance(defs, dg.Definitions)
    job = defs.resolve_implicit_global_asset_job_def()
    assert job.executor_def.name == executor_name
    keys = {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    assert {"edges", "montage"} <= keys


def test_the_helm_values_name_what_the_chart_reads():
    (values,) = blocks("yaml", "runLauncher")
    doc = yaml.safe_load(values)
    (deployment,) = doc["dagster-user-deployments"]["deployments"]
    assert deployment["dagsterApiGrpcArgs"] == ["--python-file", "/app/definitions.py"]
    env = {e["name"]: e["value"] for e in deployment["env"]}
    assert env["DAGSTER_VERSIONED_STORAGE"].startswith("s3://")
    assert doc["runLauncher"]["type"] == "K8sRunLauncher"
    assert doc["dagsterDaemon"]["enabled"] is True
