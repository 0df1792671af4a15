"""The store against a trivial model: per branch, a dict of path → bytes.

hypothesis drives random sequences of puts, deletes, copies, multi-write commits (some of
which fail part-way) and branches made from heads; after every step each branch must list and
read exactly what the model holds. Runs on memory and on local disk (S3 is covered by the
conformance tests; a state machine there would cost minutes).
"""

from __future__ import annotations

import shutil
import tempfile
import uuid

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
)

from dagster_versioned.errors import PathNotFound
from dagster_versioned.store import CommitWriter, Store

BRANCHES = ("master", "dev", "feature")
DIRS = ("", "/d", "/d/e")
# Files only ever sit at these leaves, so a path is never both a file and a directory.
FILE_PATHS = tuple(f"{d}/f{i}" for d in DIRS for i in range(3))
DELETABLE = (*FILE_PATHS, "/d", "/d/e", "/c")
contents = st.binary(max_size=40)


class Aborted(Exception):
    """Raised inside a commit block to abandon it."""


def _write(
    c: CommitWriter, writes: list[tuple[str, bytes | None]], files: dict[str, bytes], *, abort: bool
) -> None:
    """Apply ``writes`` (``None`` deletes) to a commit and to ``files``; maybe fail at the end."""
    for path, data in writes:
        if data is None:
            if path in files:
                c.delete_file(path)
                del files[path]
        else:
            c.put_file(path, data)
            files[path] = data
    if abort:
        raise Aborted


class StoreMachine(RuleBasedStateMachine):
    """Compares a store with ``model[branch][path] = bytes`` after every step."""

    backend = "memory"

    def __init__(self) -> None:
        super().__init__()
        if self.backend == "memory":
            self.url = f"memory://dv-sm-{uuid.uuid4().hex}"
            self.tmp: str | None = None
        else:
            self.tmp = tempfile.mkdtemp(prefix="dv-sm-")
            self.url = f"{self.tmp}/store"
        self.store = Store.open(self.url)
        self.store.create_repo("repo")
        self.store.create_branch("repo@master")
        self.model: dict[str, dict[str, bytes]] = {"master": {}}

    def teardown(self) -> None:
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            self.store.backend.fs.rm(self.store.backend.root, recursive=True)

    # -- rules -----------------------------------------------------------------------------

    @rule(branch=st.sampled_from(BRANCHES), path=st.sampled_from(FILE_PATHS), data=contents)
    def put(self, branch: str, path: str, data: bytes) -> None:
        self.store.put_file(f"repo@{branch}:{path}", data)
        self.model.setdefault(branch, {})[path] = data

    @rule(branch=st.sampled_from(BRANCHES), path=st.sampled_from(DELETABLE))
    def delete(self, branch: str, path: str) -> None:
        files = self.model.get(branch)
        if files is None:
            return
        doomed = [p for p in files if p == path or p.startswith(path + "/")]
        if not doomed:
            with pytest.raises(PathNotFound):
                self.store.delete_file(f"repo@{branch}:{path}")
            return
        self.store.delete_file(f"repo@{branch}:{path}")
        for p in doomed:
            del files[p]

    @rule(
        src=st.sampled_from(BRANCHES),
        dst=st.sampled_from(BRANCHES),
        path=st.sampled_from(FILE_PATHS),
        to=st.sampled_from(FILE_PATHS),
    )
    def copy_file(self, src: str, dst: str, path: str, to: str) -> None:
        source = self.model.get(src, {})
        if path not in source or dst not in self.model:
            return
        self.store.copy_file(f"repo@{src}:{path}", f"repo@{dst}:{to}")
        self.model[dst][to] = source[path]

    @rule(
        src=st.sampled_from(BRANCHES),
        dst=st.sampled_from(BRANCHES),
        folder=st.sampled_from(DIRS[1:]),
    )
    def copy_dir(self, src: str, dst: str, folder: str) -> None:
        source = self.model.get(src, {})
        below = {p[len(folder) :]: v for p, v in source.items() if p.startswith(folder + "/")}
        if not below or dst not in self.model:
            return
        self.store.copy_file(f"repo@{src}:{folder}", f"repo@{dst}:/c")
        files = self.model[dst]
        for p in [p for p in files if p.startswith("/c/")]:
            del files[p]
        files.update({f"/c{rel}": v for rel, v in below.items()})

    @rule(
        branch=st.sampled_from(BRANCHES),
        writes=st.lists(
            st.tuples(st.sampled_from(FILE_PATHS), st.none() | contents), min_size=1, max_size=5
        ),
        abort=st.booleans(),
    )
    def commit_context(
        self, branch: str, writes: list[tuple[str, bytes | None]], abort: bool
    ) -> None:
        files = dict(self.model.get(branch, {}))
        try:
            with self.store.commit(f"repo@{branch}") as c:
                _write(c, writes, files, abort=abort)
        except Aborted:
            return
        self.model[branch] = files

    @precondition(lambda self: len(self.model) > 0)
    @rule(src=st.sampled_from(BRANCHES), dst=st.sampled_from(BRANCHES))
    def branch_from_head(self, src: str, dst: str) -> None:
        if src not in self.model:
            return
        self.store.create_branch(f"repo@{dst}", head=f"repo@{src}")
        self.model[dst] = dict(self.model[src])

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def branches_match(self) -> None:
        assert sorted(b.name for b in self.store.list_branch("repo")) == sorted(self.model)

    @invariant()
    def every_branch_lists_and_reads_what_the_model_holds(self) -> None:
        for branch, files in self.model.items():
            ref = f"repo@{branch}"
            listed = {f.path: f.size for f in self.store.walk_file(ref) if f.type == "file"}
            assert listed == {p: len(v) for p, v in files.items()}
            for path, data in files.items():
                assert self.store.get_file(f"{ref}:{path}") == data
            top = [f.path for f in self.store.list_file(ref)]
            assert top == sorted({"/" + p[1:].split("/")[0] for p in files})
            assert self.store.inspect_commit(ref).size_bytes == sum(map(len, files.values()))


class LocalStoreMachine(StoreMachine):
    backend = "local"


# Derandomisation and deadlines come from the loaded profile (tests/conftest.py).
StoreMachine.TestCase.settings = settings(max_examples=50, stateful_step_count=25)
LocalStoreMachine.TestCase.settings = settings(max_examples=20, stateful_step_count=25)

TestStoreAgainstDictModelOnMemory = StoreMachine.TestCase
TestStoreAgainstDictModelOnLocalDisk = LocalStoreMachine.TestCase
