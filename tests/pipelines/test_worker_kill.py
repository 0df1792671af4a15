"""A run worker killed with SIGKILL mid-job: the job ends FAILURE naming the lost worker, the run
fails, no output commit is written, and a re-execution keeps the datums that had finished.

Everything is real: ``dagster-webserver`` and ``dagster-daemon run`` serve one definitions
file with four pipelines — a Python body and a ``transform.cmd``, each as one step and fanned
out over two batch steps — on Dagster's multiprocess executor (forkserver start, so a
fanned-out run's four steps start fast). A commit to each pipeline's input repo makes its
branch sensor start its run; every datum appends ``<name> <pid>`` to a log outside the store
when it starts, and from the third one on waits at a gate file, so the test kills while two
datums have finished and the others are in flight. Two ways to lose a worker:

* ``step``: SIGKILL the step process working on the job (what the OOM killer does). Dagster
  sees its child die and fails the step and the run; the FAILURE run-status sensor or the
  ``dv_lost_workers`` sensor ends the job naming the worker.
* ``worker``: SIGKILL the run worker (the process the code server starts for the run) and
  every process below it, as when its container goes. The code server that started it sees
  it die and fails the run; the job is ended by ``dv_lost_workers`` (or the FAILURE sensor).
  Were the code server gone too (its machine lost, a code reload), ``dv_lost_workers`` would
  also fail the run itself (``fail_lost_run``, tested in test_lost_run.py).

Then the run is re-executed (GraphQL's ``launchRunReexecution``, the UI's "Re-execute all"):
same tags, so the same global job, which restarts (``restart`` 1), runs only the datums that had
not finished, and succeeds.
"""

from __future__ import annotations

import json
import os
import signal
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import pytest
from e2e.deployment import BIN, Deployment, dagster_home, deployment, free_port

from dagster_versioned import GLOBAL_ID_TAG
from dagster_versioned.errors import NotFound
from dagster_versioned.pps.batches import succeeded_before
from dagster_versioned.pps.jobs import JobInfo, JobState, JobStore
from dagster_versioned.pps.leases import list_leases
from dagster_versioned.store import Store
from dagster_versioned.store.maintenance import fsck

pytestmark = [pytest.mark.slow, pytest.mark.dagster, pytest.mark.timeout(600)]

LOST_WITHIN = 60.0
"""Seconds from the kill by which the job must have ended FAILURE."""
NAMES = ["a.txt", "b.txt", "c.txt", "d.txt", "e.txt"]

GATED = """
# Appends "<file> <pid>" to <work>/<tag>.log; past the first two datums, waits at <tag>.gate.
f=$(basename "$src")
echo "$f $PPID" >> {work}/{tag}.log
if [ "$(wc -l < {work}/{tag}.log)" -gt 2 ]; then
  while [ ! -e {work}/{tag}.gate ]; do sleep 0.05; done
fi
tr a-z A-Z < "$src" > "$PFS_OUT/$f"
"""

DEFINITIONS = '''
import os
import time
from pathlib import Path

import dagster as dg

from dagster_versioned import Datum, pfs, pipeline, pipeline_from_spec, versioned_definitions

WORK = Path({work!r})


def gated(datum: Datum, tag: str) -> None:
    """Like the command: log "<file> <pid>", wait at the gate past two datums, upper-case."""
    log = WORK / f"{{tag}}.log"
    for src in datum.files():
        with log.open("a") as f:
            f.write(f"{{src.name}} {{os.getpid()}}\\n")
        if len(log.read_text().splitlines()) > 2:
            while not (WORK / f"{{tag}}.gate").exists():
                time.sleep(0.05)
        (datum.out / src.name).write_bytes(src.read_bytes().upper())


@pipeline(input=pfs("py1_in", glob="/*"), name="py1")
def py1(datum: Datum) -> None:
    gated(datum, "py1")


@pipeline(input=pfs("py2_in", glob="/*"), name="py2", fan_out=2)
def py2(datum: Datum) -> None:
    gated(datum, "py2")


defs = versioned_definitions(
    [py1, py2, pipeline_from_spec({cmd1!r}), pipeline_from_spec({cmd2!r}, fan_out=2)],
    storage={storage!r},
    sensor_interval=1,
    # Steps forked from a preloaded server, not spawned afresh: a fanned-out run has four.
    executor=dg.multiprocess_executor.configured({{"start_method": {{"forkserver": {{}}}}}}),
)
'''

REEXECUTE = """
mutation Reexecute($parent: String!) {
  launchRunReexecution(reexecutionParams: {parentRunId: $parent, strategy: ALL_STEPS}) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on Error { message }
  }
}
"""

RUN_QUERY = """
query Run($runId: ID!) {
  runOrError(runId: $runId) { __typename ... on Run { runId status } }
}
"""


@dataclass
class Site:
    """The shared deployment: its processes, the store, the folder the datums log to, and each
    pipeline's global id (the commit to its input repo)."""

    web: Deployment
    store: Store
    work: Path
    gids: dict[str, str]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("worker_kill")
    work = tmp / "work"
    work.mkdir()
    storage = str(tmp / "store")
    store = Store.open(storage)
    specs = {}
    for tag in ("cmd1", "cmd2"):
        store.create_repo(f"{tag}_in")
        specs[tag] = tmp / f"{tag}.json"
        script = textwrap.dedent(GATED).format(work=work, tag=tag)
        specs[tag].write_text(
            json.dumps(
                {
                    "pipeline": {"name": tag},
                    "input": {"pfs": {"repo": f"{tag}_in", "glob": "/*", "name": "src"}},
                    "transform": {"cmd": ["sh", "-c", script]},
                }
            )
        )
    for tag in ("py1", "py2"):
        store.create_repo(f"{tag}_in")
    (tmp / "defs.py").write_text(
        DEFINITIONS.format(
            work=str(work), storage=storage, cmd1=str(specs["cmd1"]), cmd2=str(specs["cmd2"])
        )
    )
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home(tmp))}
    port = free_port()
    commands = [
        [str(BIN / "dagster-webserver"), "-f", "defs.py", "-h", "127.0.0.1", "-p", str(port)],
        [str(BIN / "dagster-daemon"), "run", "-f", "defs.py"],
    ]
    with deployment(commands, port=port, cwd=tmp, env=env, logs=tmp) as web:
        web.wait_for("the webserver", web.answers_graphql)
        # Every pipeline's run starts now; each waits at its gate until its case gets to it,
        # so the cases' slowest part — starting runs and steps — overlaps.
        gids = {}
        for tag in ("py1", "py2", "cmd1", "cmd2"):
            with store.commit(f"{tag}_in@master") as c:
                for name in NAMES:
                    c.put_file(f"/{name}", name.encode())
            gids[tag] = store.inspect_commit(f"{tag}_in@master").id
        yield Site(web, store, work, gids)


def started(site: Site, tag: str) -> list[tuple[str, int]]:
    """``(file, pid)`` of every datum start of pipeline ``tag``, in order."""
    log = site.work / f"{tag}.log"
    lines = log.read_text().splitlines() if log.exists() else []
    return [(name, int(pid)) for name, pid in (line.split() for line in lines)]


def finished_names(site: Site, tag: str, gid: str) -> set[str]:
    """The files whose datums the store records as succeeded (any incarnation)."""
    kept = succeeded_before(site.store, tag, gid).values()
    return {path.lstrip("/") for d in kept for path in d.outputs}


def parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                children.setdefault(parent(int(entry.name)), []).append(int(entry.name))
            except (OSError, IndexError):
                continue  # exited meanwhile
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, []))
    return out


def run_worker_of(pid: int) -> int:
    """The run worker ``pid`` is or runs under: the code server's child (the default run
    launcher has the code server start each run worker as a process of its own)."""
    chain = [pid]
    while chain[-1] > 1:
        up = parent(chain[-1])
        if "api grpc" in cmdline(up):
            return chain[-1]
        chain.append(up)
    raise AssertionError(f"pid {pid} runs under no code server: {[cmdline(p) for p in chain]}")


def run_status(web: Deployment, run_id: str) -> str:
    return str(web.graphql(RUN_QUERY, {"runId": run_id})["runOrError"]["status"])


CASES = [
    pytest.param("py1", "worker", id="python-one-step-run-worker-killed"),
    pytest.param("py2", "step", id="python-fan-out-batch-step-killed"),
    pytest.param("cmd1", "step", id="cmd-one-step-step-killed"),
    pytest.param("cmd2", "worker", id="cmd-fan-out-run-worker-killed"),
]


@pytest.mark.parametrize(("tag", "kill"), CASES)
def test_a_worker_killed_mid_job_fails_the_job_and_a_reexecution_keeps_finished_datums(
    site: Site, tag: str, kill: str
):
    store, web, jobs, gid = site.store, site.web, JobStore(site.store), site.gids[tag]

    def ready() -> bool:  # two datums recorded as finished, the rest waiting at the gate
        return len(started(site, tag)) >= 3 and len(finished_names(site, tag, gid)) == 2

    web.wait_for(f"{tag}: two datums finished, the third waiting", ready)
    time.sleep(1.0)  # a fanned-out job's other batch reaches the gate too
    holders = {w.pid for w in list_leases(store.records, tag) if w.job_id == gid}
    assert holders, "no process holds a lease on the running job"
    (run,) = web.runs_tagged(GLOBAL_ID_TAG, gid)  # the one the branch sensor started
    finished = finished_names(site, tag, gid)
    waiting = {pid for name, pid in started(site, tag) if name not in finished}
    if kill == "step":
        victims = [max(waiting & holders)]  # one process working on the job, not its run worker
        assert victims[0] != run_worker_of(victims[0])
    else:
        victims = descendants(run_worker_of(next(iter(holders))))
    for pid in victims:
        with suppress(ProcessLookupError):  # a command's ``sleep`` may have ended meanwhile
            os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()

    def failed() -> JobInfo | None:
        job = jobs.load_job(tag, gid)
        return job if job.state.terminal else None

    job = web.wait_for(f"{tag}: the job to end after the kill", failed, timeout=LOST_WITHIN)
    print(f"{tag}/{kill}: job ended {time.monotonic() - killed_at:.1f}s after the kill")
    assert job.state == JobState.FAILURE, job.reason
    lost = [pid for pid in holders if f"worker pid {pid} on host" in job.reason]
    assert lost, job.reason
    assert set(lost) <= set(victims)
    assert "was lost: killed or crashed mid-job" in job.reason
    with pytest.raises(NotFound):
        store.inspect_commit(f"{tag}@{gid}")
    assert fsck(store).ok

    (site.work / f"{tag}.gate").touch()  # a surviving batch may finish; the re-execution will
    web.wait_for(
        f"{tag}: the run to fail",
        lambda: run_status(web, run["runId"]) == "FAILURE",
        timeout=LOST_WITHIN,
    )
    finished = finished_names(site, tag, gid)  # now also a surviving batch's datums

    result = web.graphql(REEXECUTE, {"parent": run["runId"]})["launchRunReexecution"]
    assert result["__typename"] == "LaunchRunSuccess", result
    rerun = result["run"]["runId"]
    web.wait_for(
        f"{tag}: the re-execution to end",
        lambda: run_status(web, rerun) in ("SUCCESS", "FAILURE", "CANCELED"),
    )
    assert run_status(web, rerun) == "SUCCESS", web.run_errors(rerun)

    job = jobs.load_job(tag, gid)
    assert (job.state, job.restart, job.dagster_run_id) == (JobState.SUCCESS, 1, rerun)
    assert (job.data_processed, job.data_total) == (len(NAMES), len(NAMES))
    assert sorted(f.path for f in store.list_file(f"{tag}@{gid}")) == [f"/{n}" for n in NAMES]
    assert store.get_file(f"{tag}@{gid}:/a.txt") == b"A.TXT"
    runs = Counter(name for name, _ in started(site, tag))
    assert set(runs) == set(NAMES)
    assert {name: runs[name] for name in finished} == dict.fromkeys(finished, 1)
    in_flight = {name for name, pid in started(site, tag) if pid in victims} - finished
    assert {name: runs[name] for name in in_flight} == dict.fromkeys(in_flight, 2)
    assert fsck(store).ok
