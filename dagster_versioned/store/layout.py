"""Every key of a store, named once.

A store is a tree of keys below one fsspec root. The store's own areas (``repos/``,
``objects/``, ``packs/``) hold versioned data and are written only by ``store/``; the record
areas (``jobs/``, ``pipelines/``, ``workers/``, ``gridjobs/``) hold the engines' auxiliary
records, written through ``Store.records``, which refuses any key outside them. Spelling a key
anywhere but here is how two modules come to disagree about where a thing lives, so both the
store and the engines build their keys with these functions.

Changing any string here is a change of the storage format: stores written before it would no
longer be read.
"""

from __future__ import annotations

REPOS = "repos"
OBJECTS = "objects"
PACKS = "packs"
JOBS = "jobs"
PIPELINES = "pipelines"
WORKERS = "workers"
GRID_JOBS = "gridjobs"
ROOT_RECORD = "dagster_versioned.json"
"""The format marker a store is recognised by."""

RECORD_AREAS: tuple[str, ...] = (JOBS, PIPELINES, WORKERS, GRID_JOBS)
"""The top-level folders ``Store.records`` may write: everything else is versioned data."""

# -- repos and commits ---------------------------------------------------------------------


def repo_dir(repo: str) -> str:
    return f"{REPOS}/{repo}"


def repo_record(repo: str) -> str:
    return f"{REPOS}/{repo}/repo.json"


def commits_dir(repo: str) -> str:
    return f"{REPOS}/{repo}/commits"


def commit_record(repo: str, commit_id: str) -> str:
    return f"{REPOS}/{repo}/commits/{commit_id}.json"


def open_commits_dir(repo: str) -> str:
    return f"{REPOS}/{repo}/open-commits"


def open_commit_record(repo: str, commit_id: str) -> str:
    return f"{REPOS}/{repo}/open-commits/{commit_id}.json"


def open_commit_dir(repo: str, commit_id: str) -> str:
    """Staged parts of an open commit (``put file`` between ``start`` and ``finish``)."""
    return f"{REPOS}/{repo}/open-commits/{commit_id}"


def finish_claim(repo: str, commit_id: str) -> str:
    return f"{REPOS}/{repo}/open-commits/{commit_id}.finishing"


def open_branches_dir(repo: str) -> str:
    return f"{REPOS}/{repo}/open-branches"


def open_branch(repo: str, branch: str) -> str:
    """Which commit is open on ``branch`` (holds its id)."""
    return f"{REPOS}/{repo}/open-branches/{branch}"


def subvenance_dir(repo: str) -> str:
    return f"{REPOS}/{repo}/subvenance"


def subvenance(repo: str, downstream: str) -> str:
    return f"{REPOS}/{repo}/subvenance/{downstream}"


# -- branches (ref logs) and triggers ------------------------------------------------------

BRANCH_SEQ_DIGITS = 12


def branches_dir(repo: str) -> str:
    return f"{REPOS}/{repo}/branches"


def branch_log(repo: str, branch: str) -> str:
    return f"{REPOS}/{repo}/branches/{branch}"


def branch_entry(repo: str, branch: str, seq: int) -> str:
    return f"{REPOS}/{repo}/branches/{branch}/{seq:0{BRANCH_SEQ_DIGITS}d}.json"


def branch_hint(repo: str, branch: str) -> str:
    return f"{REPOS}/{repo}/branches/{branch}/HEAD"


def triggers_dir(repo: str) -> str:
    return f"{REPOS}/{repo}/triggers"


def trigger(repo: str, branch: str) -> str:
    return f"{REPOS}/{repo}/triggers/{branch}"


def trigger_index(repo: str) -> str:
    return f"{REPOS}/{repo}/triggers/.index"


# -- content ---------------------------------------------------------------------------------


def object_shard(prefix: str) -> str:
    return f"{OBJECTS}/{prefix}"


def object_key(object_id: str) -> str:
    """Loose objects, sharded by the first two hex digits so no folder grows unbounded."""
    return f"{OBJECTS}/{object_id[:2]}/{object_id}"


def pack_key(name: str) -> str:
    return f"{PACKS}/{name}.pack"


# -- records of the Pachyderm engine -------------------------------------------------------

REVISIONS = "revisions"
REVISION_SEQ_DIGITS = 12


def revision(directory: str, seq: int, digits: int = REVISION_SEQ_DIGITS) -> str:
    """Version ``seq`` of the record whose revision log is ``directory`` (``revlog.py``)."""
    return f"{directory}/{REVISIONS}/{seq:0{digits}d}.json"


def pipeline_record(name: str) -> str:
    return f"{PIPELINES}/{name}.json"


def pipeline_jobs(pipeline: str) -> str:
    return f"{JOBS}/{pipeline}"


def job_dir(pipeline: str, job_id: str) -> str:
    """The job's revision log and its parts (datums, plan, batches, stop request)."""
    return f"{JOBS}/{pipeline}/{job_id}"


def job_hint(pipeline: str, job_id: str) -> str:
    """A copy of the job record's newest revision, where listings look."""
    return f"{JOBS}/{pipeline}/{job_id}.json"


def job_datums(pipeline: str, job_id: str) -> str:
    return f"{JOBS}/{pipeline}/{job_id}/datums.json"


def job_stop(pipeline: str, job_id: str) -> str:
    return f"{JOBS}/{pipeline}/{job_id}/stop"


def job_plan(pipeline: str, job_id: str) -> str:
    return f"{JOBS}/{pipeline}/{job_id}/plan.json"


def job_batches(pipeline: str, job_id: str) -> str:
    return f"{JOBS}/{pipeline}/{job_id}/batches"


def lease(pipeline: str, job_id: str, token: str) -> str:
    return f"{WORKERS}/{pipeline}@{job_id}@{token}.json"


# -- records of the grid engine ------------------------------------------------------------

GRID_SEQ_DIGITS = 8


def grid_job_dir(name: str) -> str:
    return f"{GRID_JOBS}/{name}"


def grid_job_hint(name: str) -> str:
    return f"{GRID_JOBS}/{name}/job.json"


def grid_job_revision(name: str, revision: int) -> str:
    return f"{GRID_JOBS}/{name}/{REVISIONS}/{revision:0{GRID_SEQ_DIGITS}d}.json"


def grid_cell(job_dir: str, key: str) -> str:
    return f"{job_dir}/cells/{key}.json"


def grid_batches(name: str) -> str:
    return f"{GRID_JOBS}/{name}/batches"


def grid_batch(name: str, index: int) -> str:
    return f"{GRID_JOBS}/{name}/batches/{index:06d}/batch.json"


def grid_batch_runs(name: str, index: int) -> str:
    return f"{GRID_JOBS}/{name}/batches/{index:06d}/runs.json"


def grid_requests(name: str) -> str:
    return f"{GRID_JOBS}/{name}/requests"


def grid_request(name: str, request_id: str) -> str:
    return f"{GRID_JOBS}/{name}/requests/{request_id}.json"


def grid_settled(name: str) -> str:
    return f"{GRID_JOBS}/{name}/settled.json"


def grid_cron(name: str) -> str:
    return f"{GRID_JOBS}/{name}/cron.json"


def is_record_key(key: str) -> bool:
    """Whether ``key`` lies in a record area (and so may be written by ``Store.records``)."""
    area, sep, rest = key.partition("/")
    return area in RECORD_AREAS and (not sep or (rest != "" and ".." not in rest.split("/")))
