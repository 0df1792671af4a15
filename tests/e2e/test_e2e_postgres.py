"""End to end on a production-shaped instance: Dagster's storage in PostgreSQL, the store on S3.

docs/deploy.md's ``dagster.yaml`` (its ``storage: postgres:`` block, read from the page so the
page cannot drift from what is tested) points the instance at a throwaway PostgreSQL server;
``dagster instance migrate`` creates the schema, then ``dagster-webserver`` and
``dagster-daemon run`` start as separate processes, the versioned store in a bucket on the moto
S3 server. ``dvctl`` puts pictures, the daemon's sensor starts the run, GraphQL reports it and its
materialisation metadata, ``dvctl list job`` agrees — and PostgreSQL itself holds the run, so the
instance really used it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from dagster_versioned.store import Store

from .deployment import (
    BIN,
    ROOT,
    deployed_commands,
    deployment,
    free_port,
    run_cli,
    s3_env,
    successful_jobs,
    write_pictures,
    write_workspace,
)
from .postgres import PostgresServer

YAML_BLOCK = re.compile(r"^```yaml\n(?P<body>.*?)^```\s*$", re.S | re.M)


def documented_dagster_yaml() -> dict[str, Any]:
    """The one ``dagster.yaml`` of docs/deploy.md with ``storage: postgres:``, parsed."""
    page = (ROOT / "docs" / "deploy.md").read_text()
    blocks = [yaml.safe_load(m.group("body")) for m in YAML_BLOCK.finditer(page)]
    found = [b for b in blocks if isinstance(b, dict) and "postgres" in b.get("storage", {})]
    assert len(found) == 1, (
        f"docs/deploy.md needs one dagster.yaml with storage: postgres:, has {found}"
    )
    return dict(found[0])


def postgres_home(tmp_path: Path) -> Path:
    """A DAGSTER_HOME with the documented dagster.yaml, plus test speed-ups (no telemetry,
    the run queue polled every second)."""
    config = documented_dagster_yaml()
    config["telemetry"] = {"enabled": False}
    config["run_coordinator"].setdefault("config", {})["dequeue_interval_seconds"] = 1
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    return home


@pytest.mark.dagster
@pytest.mark.slow
@pytest.mark.s3
def test_webserver_and_daemon_on_a_postgres_instance_run_the_sensor_and_dvctl_agrees(
    tmp_path: Path,
    postgres_server: PostgresServer,
    s3_server: str,
    s3_bucket: str,
    s3_storage_options: dict[str, Any],
) -> None:
    storage = f"s3://{s3_bucket}/store"
    home = postgres_home(tmp_path)
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_URL": postgres_server.sqlalchemy_url,
        "DAGSTER_VERSIONED_STORAGE": storage,
        **s3_env(s3_server),
    }
    run_cli([str(BIN / "dagster"), "instance", "migrate"], env, tmp_path)
    public = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
    tables = {name for (name,) in postgres_server.query(public)}
    assert {"runs", "event_logs", "instigators", "job_ticks"} <= tables, tables

    pictures = write_pictures(tmp_path / "pictures", {"red": (255, 0, 0), "blue": (0, 0, 255)})
    port = free_port()
    commands = deployed_commands(write_workspace(tmp_path), port)
    with deployment(commands, port=port, cwd=tmp_path, env=env, logs=tmp_path) as deployed:
        run_cli([str(BIN / "dvctl"), "create", "repo", "images"], env, tmp_path)
        put = [str(BIN / "dvctl"), "put", "file", "images@master:/"]
        run_cli(put + [a for p in pictures for a in ("-f", str(p))], env, tmp_path)
        head = Store.open(storage, **s3_storage_options).inspect_commit("images@master").id
        deployed.wait_for("the GraphQL endpoint", deployed.answers_graphql)

        run, edges = deployed.images_run_succeeded(head)
        assert re.fullmatch(r"[0-9a-f]{32}", edges["output_commit"])
        _, montage = deployed.latest_materialization("montage")
        assert (montage["global_id"], montage["progress"]) == (head, "1 + 0 / 1")

        by_pipeline = successful_jobs(head, run["runId"], env, tmp_path)
        assert by_pipeline["edges"]["output_commit"]["id"] == edges["output_commit"]
        assert by_pipeline["montage"]["output_commit"]["id"] == montage["output_commit"]

    # What GraphQL reported came out of PostgreSQL: the run, its sensor tick, its events.
    assert postgres_server.query("SELECT status FROM runs WHERE run_id = %s", run["runId"]) == [
        ("SUCCESS",)
    ]
    materialized = postgres_server.query(
        "SELECT DISTINCT asset_key FROM event_logs WHERE run_id = %s "
        "AND dagster_event_type = 'ASSET_MATERIALIZATION'",
        run["runId"],
    )
    assert sorted(key for (key,) in materialized) == ['["edges"]', '["montage"]']
    sensor_ticks = postgres_server.query(
        "SELECT count(*) FROM job_ticks WHERE type = 'SENSOR' AND status = 'SUCCESS'"
    )
    assert sensor_ticks[0][0] >= 1
    # ... and nothing of the instance went to SQLite files in DAGSTER_HOME.
    assert sorted(home.rglob("*.db")) == []
