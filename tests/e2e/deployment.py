"""Real Dagster processes for the end-to-end tests: start, talk GraphQL to, and always stop.

Every process starts in a session of its own, so stopping it means signalling its whole process
group: the webserver, the daemon, the code servers and the run workers they spawn all go, and
a failed test leaves nothing running on the machine.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import dagster as dg
import pytest
import requests
from PIL import Image

from dagster_versioned import GLOBAL_ID_TAG

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
WAIT_SECONDS = 150.0
STOP_SECONDS = 20.0
T = TypeVar("T")

DAGSTER_YAML = """
telemetry:
  enabled: false
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    dequeue_interval_seconds: 1
"""

RUNS_QUERY = """
query Runs($tags: [ExecutionTag!]) {
  runsOrError(filter: {tags: $tags}) {
    __typename
    ... on Runs { results { runId status tags { key value } } }
    ... on PythonError { message }
  }
}
"""

RUN_LOGS_QUERY = """
query Logs($runId: ID!) {
  logsForRun(runId: $runId) {
    __typename
    ... on EventConnection {
      events {
        __typename
        ... on MessageEvent { message stepKey }
        ... on ErrorEvent { error { message stack } }
      }
    }
  }
}
"""

MATERIALIZATION_QUERY = """
query Materialization($path: [String!]!) {
  assetOrError(assetKey: {path: $path}) {
    __typename
    ... on Asset {
      assetMaterializations(limit: 1) {
        runId
        metadataEntries {
          label
          ... on TextMetadataEntry { text }
          ... on IntMetadataEntry { intValue }
        }
      }
    }
  }
}
"""

PARTITION_MATERIALIZATIONS_QUERY = """
query PartitionMaterializations($path: [String!]!, $partitions: [String!]) {
  assetOrError(assetKey: {path: $path}) {
    __typename
    ... on Asset {
      assetMaterializations(partitions: $partitions) {
        runId
        partition
        metadataEntries {
          label
          ... on TextMetadataEntry { text }
          ... on JsonMetadataEntry { jsonString }
        }
      }
    }
  }
}
"""

WORKSPACE_YAML = """
load_from:
  - python_file:
      relative_path: {definitions}
      working_directory: {root}
"""

TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_workspace(tmp_path: Path) -> Path:
    """docs/deploy.md's ``workspace.yaml``, loading the repo's ``definitions.py``."""
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(WORKSPACE_YAML.format(definitions=ROOT / "definitions.py", root=ROOT))
    return workspace


def s3_env(server: str) -> dict[str, str]:
    """What a process needs to reach the moto S3 server as an S3-compatible endpoint."""
    return {
        "AWS_ENDPOINT_URL": server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def deployed_commands(workspace: Path, port: int) -> list[list[str]]:
    """``dagster-webserver`` and ``dagster-daemon run`` as separate processes (docs/deploy.md)."""
    return [
        [str(BIN / "dagster-webserver"), "-w", str(workspace), "-h", "127.0.0.1", "-p", str(port)],
        [str(BIN / "dagster-daemon"), "run", "-w", str(workspace)],
    ]


def write_pictures(directory: Path, colours: dict[str, tuple[int, int, int]]) -> list[Path]:
    """One 64x64 PNG per name: a coloured square on white (what the images example expects)."""
    directory.mkdir(exist_ok=True)
    paths = []
    for name, colour in colours.items():
        img = Image.new("RGB", (64, 64), "white")
        img.paste(colour, (16, 16, 48, 48))
        img.save(directory / f"{name}.png")
        paths.append(directory / f"{name}.png")
    return paths


def dagster_home(tmp_path: Path) -> Path:
    """A fresh DAGSTER_HOME with the queued coordinator polling every second, no telemetry.

    Its sqlite storage is created here, before any process starts: a webserver and a daemon
    that both find an empty DAGSTER_HOME race to create the same databases, and the loser
    fails in alembic (what ``dagster instance migrate`` before a deployment avoids).
    """
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    with dg.DagsterInstance.from_config(str(home)):
        pass
    return home


@dataclass
class Deployment:
    """Running processes, their logs, and the webserver's port."""

    port: int
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def tail(self, chars: int = 3000) -> str:
        return "\n".join(
            f"--- {log.name} ---\n{log.read_text(errors='replace')[-chars:]}" for log in self.logs
        )

    def check_alive(self) -> None:
        for proc, log in zip(self.procs, self.logs, strict=True):
            if proc.poll() is not None:
                pytest.fail(f"{log.stem} exited with code {proc.returncode}:\n{self.tail()}")

    def wait_for(
        self, what: str, check: Callable[[], T | None], timeout: float = WAIT_SECONDS
    ) -> T:
        """Poll ``check`` until it returns something truthy; fail with the logs otherwise."""
        start = time.monotonic()
        while time.monotonic() < start + timeout:
            self.check_alive()
            value = check()
            if value:
                # Where an end-to-end test spends its time (shown with -s, or on failure).
                print(f"e2e: {what}: {time.monotonic() - start:.1f}s", flush=True)
                return value
            time.sleep(1)
        pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}:\n{self.tail()}")

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = requests.post(
            f"http://127.0.0.1:{self.port}/graphql",
            json={"query": query, "variables": variables or {}},
            timeout=30,
        )
        response.raise_for_status()
        body = response.json()
        assert not body.get("errors"), body["errors"]
        return dict(body["data"])

    def answers_graphql(self) -> bool:
        try:
            return "version" in self.graphql("{ version }")
        except requests.RequestException:
            return False

    def runs_tagged(self, key: str, value: str) -> list[dict[str, Any]]:
        data = self.graphql(RUNS_QUERY, {"tags": [{"key": key, "value": value}]})["runsOrError"]
        assert data["__typename"] == "Runs", data
        return list(data["results"])

    def finished_runs_tagged(self, key: str, value: str) -> list[dict[str, Any]] | None:
        runs = self.runs_tagged(key, value)
        return runs if runs and all(r["status"] in TERMINAL for r in runs) else None

    def run_errors(self, run_id: str) -> str:
        """The failure messages of a run, from its event log: what a failed test must show."""
        data = self.graphql(RUN_LOGS_QUERY, {"runId": run_id})["logsForRun"]
        lines = []
        for event in data.get("events", []):
            if event["__typename"] in ("ExecutionStepFailureEvent", "RunFailureEvent"):
                error = event.get("error") or {}
                stack = "".join(error.get("stack") or [])
                lines.append(f"{event.get('stepKey')}: {event['message']}\n{error.get('message')}")
                lines.append(stack)
        return "\n".join(lines) or json.dumps(data)[-3000:]

    def latest_materialization(self, asset: str) -> tuple[str, dict[str, Any]]:
        """``(run id, {label: value})`` of the asset's latest materialisation."""
        data = self.graphql(MATERIALIZATION_QUERY, {"path": [asset]})["assetOrError"]
        assert data["__typename"] == "Asset", data
        (event,) = data["assetMaterializations"]
        values = {e["label"]: e.get("text", e.get("intValue")) for e in event["metadataEntries"]}
        return event["runId"], values

    def images_run_succeeded(self, head: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """Wait for the sensor's run of ``images@head`` (two pictures); check that it succeeded
        and that ``edges`` was materialised by it for that global id. Returns the run and the
        ``edges`` metadata."""
        (run,) = self.wait_for(
            f"the run for images@{head}",
            lambda: self.finished_runs_tagged(GLOBAL_ID_TAG, head),
        )
        assert run["status"] == "SUCCESS", self.run_errors(run["runId"])
        run_id, edges = self.latest_materialization("edges")
        assert (run_id, edges["global_id"], edges["progress"]) == (run["runId"], head, "2 + 0 / 2")
        return run, edges

    def partition_materializations(
        self, asset: Sequence[str], partitions: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """Every materialisation of ``asset`` (of ``partitions``): run id, partition, metadata.

        JSON metadata comes back parsed, text as text, both under ``metadata``.
        """
        variables = {"path": list(asset), "partitions": list(partitions) if partitions else None}
        data = self.graphql(PARTITION_MATERIALIZATIONS_QUERY, variables)["assetOrError"]
        assert data["__typename"] == "Asset", data
        out = []
        for event in data["assetMaterializations"]:
            metadata = {
                e["label"]: json.loads(e["jsonString"]) if "jsonString" in e else e.get("text")
                for e in event["metadataEntries"]
            }
            out.append(
                {"runId": event["runId"], "partition": event["partition"], "metadata": metadata}
            )
        return out


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left of it."""
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=STOP_SECONDS)
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # stragglers: run workers, code servers
    proc.wait()


@contextmanager
def deployment(
    commands: Sequence[Sequence[str]], *, port: int, cwd: Path, env: dict[str, str], logs: Path
) -> Iterator[Deployment]:
    """Start ``commands`` (each in its own session, output to a log file) and stop them all."""
    dep = Deployment(port=port)
    try:
        for command in commands:
            log = logs / f"{Path(command[0]).name}-{len(dep.procs)}.log"
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    list(command), cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                    start_new_session=True,
                )  # fmt: skip
            dep.procs.append(proc)
            dep.logs.append(log)
        yield dep
    finally:
        start = time.monotonic()
        for proc in dep.procs:
            _stop(proc)
        print(f"e2e: stopping {len(dep.procs)} process(es): {time.monotonic() - start:.1f}s")


def run_cli(args: Sequence[str], env: dict[str, str], cwd: Path) -> str:
    """Run a command to completion; its stdout, or a test failure showing its output."""
    start = time.monotonic()
    done = subprocess.run(
        list(args), env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    command = " ".join([Path(args[0]).name, *args[1:3]])
    print(f"e2e: {command}: {time.monotonic() - start:.1f}s")
    if done.returncode != 0:
        pytest.fail(f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def raw_records(text: str) -> list[dict[str, Any]]:
    """The JSON records of a ``--raw`` dvctl listing, one a line."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def successful_jobs(global_id: str, run_id: str, env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """``dvctl list job <global id> --raw`` by pipeline, checked to agree with Dagster: both
    example pipelines succeeded, in the Dagster run ``run_id``."""
    listed = raw_records(run_cli([str(BIN / "dvctl"), "list", "job", global_id, "--raw"], env, cwd))
    by_pipeline = {job["job"]["pipeline"]["name"]: job for job in listed}
    assert sorted(by_pipeline) == ["edges", "montage"]
    assert {job["state"] for job in listed} == {"JOB_SUCCESS"}
    assert {job["dagster_run_id"] for job in listed} == {run_id}
    return by_pipeline
