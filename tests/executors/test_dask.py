"""Fan-out on Dask: the batch steps of one run spread over Dask worker processes that share
only the store (on the S3 server) and the Dagster instance.

The scheduler and two workers (one thread each, under nannies that restart a killed worker) are
real ``dask`` processes on 127.0.0.1, each in an empty folder of its own with its own cache; the
run's launching process is a third. The executor is ``dagster_dask.dask_executor`` pointed at
the scheduler (``cluster: existing``), as a user with a running cluster configures it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from dagster_versioned.testing.clusters import Processes, children, dask_cluster
from dagster_versioned.testing.fanout_site import Site, dagster_home, make_site, s3_location
from tests.executors.scenarios import runs_spread_over_workers, survives_a_killed_worker

pytestmark = [pytest.mark.slow, pytest.mark.dagster, pytest.mark.s3, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def dask_site(
    tmp_path_factory: pytest.TempPathFactory, s3_server: str
) -> Iterator[tuple[Site, Processes]]:
    root = tmp_path_factory.mktemp("dask")
    home = dagster_home(root)
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    with dask_cluster(root / "cluster", env) as (address, procs):
        executor = (
            '__import__("dagster_dask").dask_executor.configured('
            f'{{"cluster": {{"existing": {{"address": "{address}"}}}}}})'
        )
        yield make_site(root, home, *s3_location(s3_server), executor), procs


def test_a_fanned_out_run_spreads_its_batches_over_the_dask_workers(dask_site, s3_server):
    runs_spread_over_workers(*dask_site, s3_server)


def test_a_dask_worker_killed_mid_batch_is_retried_and_no_datum_counts_twice(dask_site):
    site, procs = dask_site

    def worker_pids() -> dict[int, str]:  # the nannies' worker processes
        return {
            pid: name
            for name, proc in list(procs.procs.items())
            if name.startswith("dask-worker")
            for pid in children(proc.pid)
        }

    survives_a_killed_worker(site, procs, worker_pids)
