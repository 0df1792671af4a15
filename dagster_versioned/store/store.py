"""The store facade: every operation the CLI and the Dagster glue use, over one fsspec root.

Writes are ordered objects → tree nodes → commit record → ref-log entry. Only the last step
makes anything visible, and it is a single exclusive create, so a crash at any point leaves
every branch on either its old head or its new one, never on a partial commit.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from dagster_versioned.errors import (
    AlreadyExists,
    RepoInUse,
    RepoNotFound,
    StorageError,
    VersionedError,
)
from dagster_versioned.store.commits import (
    canonical_json,
    format_time,
    now,
    parse_time,
)
from dagster_versioned.store.credentials import redact_url, scrub_credentials
from dagster_versioned.store.file_ops import FileOps
from dagster_versioned.store.names import (
    validate_repo_name,
)
from dagster_versioned.store.opening import open_backend
from dagster_versioned.store.records import RepoInfo

FORMAT_VERSION = 1


class Store(FileOps):
    """Versioned repos over one fsspec location. Open with ``Store.open(url)``.

    Example::

        store = Store.open("s3://bucket/prefix")
        store.create_repo("images")
        with store.commit("images@master", description="add") as c:
            c.put_file("/a.png", b"...")
    """

    @classmethod
    def open(cls, url: str, *, single_writer: bool = False, **storage_options: Any) -> Store:
        """Open (creating if needed) the store at ``url``: a path, ``s3://…``, ``memory://…``."""
        store = cls(open_backend(str(url), single_writer=single_writer, **storage_options))
        try:
            store._init_root()
        except Exception as e:  # e.g. botocore quoting a bucket name with a secret in it
            if isinstance(e, VersionedError) and scrub_credentials(str(e), str(url)) == str(e):
                raise
            message = scrub_credentials(f"cannot open storage {store.url}: {e}", str(url))
            raise StorageError(message) from None  # the cause would quote the secret
        return store

    @property
    def url(self) -> str:
        return redact_url(self.backend.url)

    def _init_root(self) -> None:
        marker = self.backend.read_or_none("dagster_versioned.json")
        if marker is None:
            try:
                self.backend.create(
                    "dagster_versioned.json", canonical_json({"format": FORMAT_VERSION})
                )
            except FileNotFoundError as e:  # e.g. an S3 bucket that does not exist
                raise StorageError(
                    f"cannot open storage {self.url}: {e or 'its location does not exist'} "
                    "(create the bucket or directory first)"
                ) from e
            return
        version = json.loads(marker).get("format")
        if version != FORMAT_VERSION:
            raise StorageError(
                f"store {self.url} has format {version}; this version reads format {FORMAT_VERSION}"
            )

    def create_repo(self, name: str, description: str = "") -> RepoInfo:
        validate_repo_name(name)
        # ``triggers``: this repo keeps an index of its branches with triggers (branches.py).
        record = {
            "name": name,
            "created": format_time(now()),
            "description": description,
            "triggers": "indexed",
        }
        if not self.backend.create(f"repos/{name}/repo.json", canonical_json(record)):
            raise AlreadyExists(f"repo '{name}' already exists")
        # An entry in the trigger index, so listing it is one request even on S3 (s3fs lists
        # a missing prefix twice).
        self.backend.write(f"repos/{name}/triggers/.index", b"")
        return self.inspect_repo(name)

    def inspect_repo(self, name: str) -> RepoInfo:
        record = self._repo_record(name)
        branches = tuple(b.name for b in self.list_branch(name))
        master = self.refs.head(name, "master")
        size = self._commit(name, master.head).size_bytes if master and master.head else 0
        created = parse_time(record["created"])
        assert created is not None
        return RepoInfo(
            name=name,
            created=created,
            description=record.get("description", ""),
            size_bytes=size,
            branches=branches,
        )

    def list_repo(self) -> list[RepoInfo]:
        infos = []
        for name in self.backend.listdir("repos"):
            with contextlib.suppress(RepoNotFound):
                infos.append(self.inspect_repo(name))
        return sorted(infos, key=lambda r: r.created, reverse=True)

    def delete_repo(self, name: str, *, force: bool = False) -> None:
        """Delete a repo; refused while another repo's commits have it in their provenance."""
        self._repo_record(name)
        users = [
            r
            for r in self.backend.listdir(f"repos/{name}/subvenance")
            if r != name and self.backend.exists(f"repos/{r}/repo.json")
        ]
        if users and not force:
            raise RepoInUse(
                f"repo '{name}' is in the provenance of {', '.join(sorted(users))}; "
                "delete those first or pass force"
            )
        self.backend.delete(f"repos/{name}/repo.json")
        self._repos.pop(name, None)
        self.backend.delete_tree(f"repos/{name}")
        self._commits = {k: v for k, v in self._commits.items() if k[0] != name}
