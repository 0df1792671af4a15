"""Dagster glue for the store: IO manager, store resource, branch sensors, input repos.

Everything here imports Dagster; the store below it never does.
"""

from dagster_versioned.io.io_manager import VersionedIOManager
from dagster_versioned.io.resource import VersionedStoreResource
from dagster_versioned.io.sensors import branch_sensor, branch_sensors_for, input_repos
from dagster_versioned.io.sources import repo_source_asset
from dagster_versioned.io.tags import (
    BRANCH_KEY,
    FORMAT_KEY,
    GLOBAL_ID_TAG,
    INPUT_COMMIT_TAG,
    REF_KEY,
    REPO_KEY,
)

__all__ = [
    "BRANCH_KEY",
    "FORMAT_KEY",
    "GLOBAL_ID_TAG",
    "INPUT_COMMIT_TAG",
    "REF_KEY",
    "REPO_KEY",
    "VersionedIOManager",
    "VersionedStoreResource",
    "branch_sensor",
    "branch_sensors_for",
    "input_repos",
    "repo_source_asset",
]
