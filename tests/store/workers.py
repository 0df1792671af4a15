"""Functions run in other processes (multiprocessing, spawn) by the store tests.

They live in a module of their own so a spawned process can import them by name.
"""

from __future__ import annotations

from typing import Any

from dagster_versioned.store import Store


def put_files(url: str, options: dict[str, Any], ref_prefix: str, names: list[str]) -> None:
    """Open the store afresh and put one small file per name under ``ref_prefix``."""
    store = Store.open(url, **options)
    for name in names:
        store.put_file(f"{ref_prefix}/{name}", f"content of {name}".encode())


def one_shot_commits(
    url: str,
    options: dict[str, Any],
    worker: int,
    count: int,
    barrier: Any,
    results: Any,
    branch: str = "master",
) -> None:
    """Make ``count`` one-shot commits to ``repo@<branch>`` as soon as every worker is ready."""
    store = Store.open(url, **options)
    barrier.wait()
    ids = []
    for i in range(count):
        commit = store.put_file(f"repo@{branch}:/w{worker}/{i}.txt", f"{worker}-{i}".encode())
        assert commit is not None
        ids.append(commit.id)
    results.put((worker, ids))


def finish_open_commits(
    url: str, options: dict[str, Any], refs: list[str], barrier: Any, results: Any
) -> None:
    """Finish each ref in turn, starting each one together with the other workers."""
    from dagster_versioned.errors import CommitFinished

    store = Store.open(url, **options)
    for n, ref in enumerate(refs):
        barrier.wait()
        try:
            commit = store.finish_commit(ref)
        except CommitFinished as e:
            results.put((n, "finished", str(e)))
        else:
            results.put((n, "landed", commit.id))
