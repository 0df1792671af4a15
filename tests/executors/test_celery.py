"""Fan-out on Celery: the batch steps of one run go through Debian's ``redis-server`` to two
``dagster-celery worker`` processes that share only the store (on the S3 server) and the Dagster
instance; a worker killed mid-batch is restarted, as a supervisor would.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from dagster_versioned.testing.clusters import (
    CELERY_REDELIVERY,
    Processes,
    celery_cluster,
    descendants,
    start_celery_worker,
)
from dagster_versioned.testing.fanout_site import Site, dagster_home, make_site, s3_location
from tests.executors.scenarios import runs_spread_over_workers, survives_a_killed_worker

pytestmark = [pytest.mark.slow, pytest.mark.dagster, pytest.mark.s3, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def celery_site(
    tmp_path_factory: pytest.TempPathFactory, s3_server: str
) -> Iterator[tuple[Site, Processes]]:
    root = tmp_path_factory.mktemp("celery")
    home = dagster_home(root)
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    with celery_cluster(root / "cluster", env) as (broker, procs):
        executor = (
            '__import__("dagster_celery").celery_executor.configured('
            f'{{"broker": "{broker}", "backend": "{broker}", '
            f'"config_source": {CELERY_REDELIVERY!r}}})'
        )
        yield make_site(root, home, *s3_location(s3_server), executor), procs


def test_a_fanned_out_run_spreads_its_batches_over_the_celery_workers(celery_site, s3_server):
    runs_spread_over_workers(*celery_site, s3_server)


def test_a_celery_worker_killed_mid_batch_is_restarted_and_no_datum_counts_twice(celery_site):
    site, procs = celery_site

    def worker_pids() -> dict[int, str]:  # the processes below each worker run its tasks
        return {
            pid: name
            for name, proc in list(procs.procs.items())
            if name.startswith("celery-worker")
            for pid in descendants(proc.pid)
        }

    def restart(name: str) -> None:
        procs.stop(name)
        start_celery_worker(
            procs, int(name.rsplit("-", 1)[1]), procs.root / "celery.yaml", site.env
        )

    survives_a_killed_worker(site, procs, worker_pids, restart)
