"""Run tags and metadata keys shared by the IO manager, the sensors and the pipelines.

A Dagster run is tied to the store by two run tags:

* ``dagster_versioned/global_id``: the global id. Every output commit the run writes gets this id,
  so ``dvctl list commit <id>`` shows the run's whole commit set. A branch sensor sets it to the
  input commit's id; a run started any other way gets its run id without dashes.
* ``dagster_versioned/input_commit``: ``repo@<commit id>`` (comma-separated for several): the
  commits the run must read even if the branches moved on since it was requested.
"""

from __future__ import annotations

import hashlib
import re

from dagster_versioned.errors import InvalidRef
from dagster_versioned.store.commits import CommitId
from dagster_versioned.store.names import is_commit_id, parse_ref

GLOBAL_ID_TAG = "dagster_versioned/global_id"
INPUT_COMMIT_TAG = "dagster_versioned/input_commit"
COMMIT_TAG_PREFIX = "dagster_versioned/commit/"
"""``<prefix><repo>``: the commit a run wrote to a repo when it could not reuse the global id."""
PIN_TAG_PREFIX = "dagster_versioned/pin/"
"""``<prefix><repo>``: a ref the run reads instead of the branch head (time travel from the
launchpad: a run tag needs no repeating of the IO manager's whole config)."""

FORMAT_KEY = "dv/format"
"""Asset or input metadata: force a serialisation format (``parquet``, ``json``, ``pickle``, …)."""
REF_KEY = "dv/ref"
"""Input metadata: read this ref instead of the branch head (``master^2``, a commit id, …)."""
REPO_KEY = "dv/repo"
"""Asset metadata: the repo the asset lives in (default: the asset key joined with ``-``)."""
BRANCH_KEY = "dv/branch"
"""Asset metadata: the branch the asset's commits go to (default: the IO manager's branch)."""

_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def global_id_for_run(run_id: str) -> CommitId:
    """The global id of a run that was started without one: its run id without dashes.

    Deterministic, so every step of the run (even in separate processes, racing) agrees on it
    without coordination; a run id that is not a UUID is hashed to 32 hex digits instead.
    """
    if _UUID_RE.match(run_id):
        return CommitId(run_id.replace("-", ""))
    return CommitId(hashlib.blake2b(run_id.encode(), digest_size=16).hexdigest())


def check_global_id(value: str) -> CommitId:
    """Validate a ``global_id`` tag value."""
    if not is_commit_id(value):
        raise InvalidRef(
            f"run tag {GLOBAL_ID_TAG}={value!r} is not a commit id: "
            "expected 32 lowercase hex digits"
        )
    return CommitId(value)


def parse_input_commits(value: str) -> dict[str, CommitId]:
    """Parse an ``input_commit`` tag (``repo@id[,repo2@id2]``) into ``{repo: id}``."""
    out: dict[str, CommitId] = {}
    for part in filter(None, (p.strip() for p in value.split(","))):
        rev = parse_ref(part, allow_path=False).rev
        if rev is None or not rev.is_commit or rev.has_ancestry:
            raise InvalidRef(
                f"run tag {INPUT_COMMIT_TAG}={value!r}: '{part}' must be repo@<commit id>"
            )
        out[rev.repo] = CommitId(rev.base)
    return out


def format_input_commits(commits: dict[str, str]) -> str:
    return ",".join(f"{repo}@{cid}" for repo, cid in sorted(commits.items()))
