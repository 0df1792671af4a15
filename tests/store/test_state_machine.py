"""The store driven by random sequences of operations, checked after every step.

Why it exists: last round's fsck passed every test and failed on the first real store with a
tree pack: the tests' stores were too small to write one. So this machine crosses every
threshold of the storage format on purpose, and after every step asserts what must always hold:

* ``fsck``, run with nothing cached (as ``dvctl fsck`` runs), finds no problem and no leftovers;
* every branch head is readable by a second, long-lived client (as a sensor reads while others
  write): ``inspect_commit`` of the branch, listing it and reading every file work;
* every branch the machine writes to holds exactly what a dict model of its commits holds: the
  head commit id, its history, its files and sizes. A branch that carries a trigger points at
  a commit the model knows and holds what that commit holds; *when* a trigger fires is pinned
  down in tests/triggers, not here.

The steps: puts and appends, deletes (files, folders, ``/``, branches), copies by reference
(also from ``^1``), multi-write commits (some abandoned part-way), open commits left open across
steps and finished later on whatever head the branch has by then, head moves to
``repo@branch^N`` and ``repo@branch.N``, triggers on other branches (chained), and ``gc`` with
no grace period, which must never take anything a commit or an open commit still names.

The thresholds (sizes in ``machine_rules.py``): a batch of >= 16 new small files (a data pack),
one past ``MAX_LEAF`` (a sharded folder) and one of ``SORTED_MIN`` (a pack index read in two
range reads and searched by bisection); an object too large for a pack; a file one byte past
the chunk size (two chunks), put as bytes, a stream or a local file; 16 nested and 16 sibling
folders in one commit (a tree pack, ``packs/<hash>.tree.pack``).

Runs on memory, on local disk and on the moto S3 server. On S3 every request is a round trip
and fsck makes one or more per object, so it runs fewer, shorter sequences that each start
past the pack, chunk and tree-pack thresholds.
"""

from __future__ import annotations

import io
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from dagster_versioned.errors import (
    BranchNotFound,
    CommitFinished,
    CommitNotFinished,
    CommitNotFound,
    PathNotFound,
)
from dagster_versioned.store import Commit, FileInfo, Origin, Store, Trigger
from dagster_versioned.store.maintenance import fsck, gc
from dagster_versioned.store.objects import PACK_MIN_OBJECTS
from dagster_versioned.store.packs import is_tree_pack

from .machine_rules import (
    ANCESTRY,
    BATCH_DIR,
    BATCH_SIZES,
    BRANCHES,
    COPY_DIR,
    COPYABLE_DIRS,
    COPYABLE_FILES,
    DEEP_FILE,
    DELETABLE,
    FILE_PATHS,
    LARGE_DIR,
    LARGE_NAMES,
    REPO,
    TRIGGERED,
    WIDE_DIR,
    WIDE_MIN,
    Model,
    Op,
    OpenCommit,
    Snapshot,
    apply,
    batch_dir,
    batch_files,
    below,
    chunked_hash,
    digest,
    large_content,
)

contents = st.binary(max_size=40)
writable = st.sampled_from(BRANCHES)
# (target, source): t2 may follow t1, never the reverse, so triggers never form a loop.
trigger_edges = st.sampled_from(
    [("t1", b) for b in BRANCHES] + [("t2", b) for b in (*BRANCHES, "t1")]
)
TRIGGER_KINDS: dict[str, dict[str, Any]] = {
    "commits=1": {"commits": 1},
    "commits=2": {"commits": 2},
    "size=1": {"size": "1"},
    "every new head": {"all": True},
}


def ref(branch: str, path: str | None = None) -> str:
    return f"{REPO}@{branch}" if path is None else f"{REPO}@{branch}:{path}"


class Aborted(Exception):
    """Raised inside a commit block to abandon it."""


def abandon_if(abort: bool) -> None:
    """End a commit block with an error, as a failing writer would."""
    if abort:
        raise Aborted


class StoreMachine(RuleBasedStateMachine):
    """The store against ``Model`` (tests/store/machine_rules.py), on one backend."""

    backend: ClassVar[str] = "memory"
    largest_batch: ClassVar[int] = max(BATCH_SIZES)
    s3_root: ClassVar[tuple[str, dict[str, Any]] | None] = None
    """``(s3://bucket, storage_options)``, set by the ``s3_machine_root`` fixture."""

    def __init__(self) -> None:
        super().__init__()
        self.scratch = Path(tempfile.mkdtemp(prefix="dv-sm-"))
        self.url, self.options = self._location()
        self.store = Store.open(self.url, **self.options)
        self.store.create_repo(REPO)
        self.model = Model()
        self.read_ok: dict[str, str] = {}
        """``FileInfo.hash`` → digest of the bytes read for it; a file is read once until gc
        runs (fsck re-verifies every object's hash after every step anyway)."""
        self.serial = 0
        """Makes the files of deep and wide trees new, so each such commit writes new nodes."""
        self.abandoned = 0
        """Commits abandoned so far: what they stored is garbage for gc."""
        self.written_at_gc: tuple[int, int, int] | None = None
        self._create_branch_with_auto_commit("master")
        self.reader = Store.open(self.url, **self.options)
        """A second client that reads while the machine writes (as a sensor does), through
        its own connection: what it caches (pack indexes, nodes) must never make it misread."""

    def _location(self) -> tuple[str, dict[str, Any]]:
        if self.backend == "memory":
            return f"memory://dv-sm-{uuid.uuid4().hex}", {}
        if self.backend == "local":
            return str(self.scratch / "store"), {}
        assert self.s3_root is not None, "the s3_machine_root fixture sets the bucket"
        bucket, options = self.s3_root
        return f"{bucket}/sm-{uuid.uuid4().hex[:12]}", options

    def teardown(self) -> None:
        if self.backend == "memory":
            self.store.backend.fs.rm(self.store.backend.root, recursive=True)
        shutil.rmtree(self.scratch, ignore_errors=True)

    # -- recording writes in the model -----------------------------------------------------

    def _record(self, branch: str, landed: Commit | None, ops: list[Op]) -> None:
        """A write to a branch goes into its open commit if it has one, else lands at once."""
        if branch in self.model.open:
            assert landed is None, "a write to a branch with an open commit went around it"
            self.model.open[branch].ops.extend(ops)
            return
        assert landed is not None
        self._land(branch, landed, ops)

    def _land(self, branch: str, landed: Commit | None, ops: list[Op]) -> None:
        """A commit landed: it holds the head's files with ``ops`` applied, and its parent is
        the head the branch had when it landed (none if the branch did not exist then)."""
        assert landed is not None
        files = self.model.files(branch)
        for op in ops:
            apply(files, op)
        assert landed.parent == self.model.heads.get(branch)
        self.model.land(branch, landed.id, files)

    def _create_branch_with_auto_commit(self, branch: str) -> None:
        info = self.store.create_branch(ref(branch))
        assert info.head is not None
        commit = self.store.inspect_commit(f"{REPO}@{info.head}")
        assert commit.origin == Origin.AUTO
        self.model.land(branch, info.head, {})

    def _source(self, branch: str, ancestry: str) -> dict[str, bytes] | type[Exception]:
        """The files ``repo@branch<ancestry>`` holds, or the error naming it must raise."""
        if branch not in self.model.heads:
            return BranchNotFound
        commit = self.model.resolve(branch, ancestry)
        if commit is None:
            return CommitNotFound
        return dict(self.model.commits[commit].files)

    # -- files -----------------------------------------------------------------------------

    @rule(branch=writable, path=st.sampled_from(FILE_PATHS), data=contents, append=st.booleans())
    def put_file(self, branch: str, path: str, data: bytes, append: bool) -> None:
        """A put (or an append, which adds chunks) to a branch; a missing branch is created."""
        landed = self.store.put_file(ref(branch, path), data, append=append)
        self._record(branch, landed, [("append" if append else "put", path, data)])

    @rule(branch=writable, path=st.sampled_from(DELETABLE))
    def delete_file(self, branch: str, path: str) -> None:
        if branch not in self.model.heads:
            with pytest.raises(BranchNotFound):
                self.store.delete_file(ref(branch, path))
            return
        if path != "/" and not below(self.model.files(branch), path):
            with pytest.raises(PathNotFound):
                self.store.delete_file(ref(branch, path))
            return
        self._record(branch, self.store.delete_file(ref(branch, path)), [("delete", path)])

    @rule(
        src=writable,
        ancestry=st.sampled_from(("", "^1")),
        path=st.sampled_from(COPYABLE_FILES),
        dst=writable,
        to=st.sampled_from(FILE_PATHS),
    )
    def copy_file(self, src: str, ancestry: str, path: str, dst: str, to: str) -> None:
        """Copying a file from any commit (also ``^1``) shares its chunks: no data is written."""
        source = f"{REPO}@{src}{ancestry}:{path}"
        found = self._source(src, ancestry)
        if isinstance(found, type) or path not in found:
            with pytest.raises(found if isinstance(found, type) else PathNotFound):
                self.store.copy_file(source, ref(dst, to))
            return
        shared = self.store.inspect_file(source).hash  # before: the copy may move ``src^1``
        landed = self.store.copy_file(source, ref(dst, to))
        self._record(dst, landed, [("put", to, found[path])])
        if landed is not None:
            assert self.store.inspect_file(ref(dst, to)).hash == shared

    @rule(
        src=writable,
        ancestry=st.sampled_from(("", "^1")),
        folder=st.sampled_from(COPYABLE_DIRS),
        dst=writable,
    )
    def copy_dir(self, src: str, ancestry: str, folder: str, dst: str) -> None:
        """Copying a folder replaces what the destination path held; the copy shares the
        folder's tree node."""
        source = f"{REPO}@{src}{ancestry}:{folder}"
        found = self._source(src, ancestry)
        tree = (
            {}
            if isinstance(found, type)
            else {p[len(folder) :]: found[p] for p in below(found, folder)}
        )
        if not tree:
            with pytest.raises(found if isinstance(found, type) else PathNotFound):
                self.store.copy_file(source, ref(dst, COPY_DIR))
            return
        shared = self.store.inspect_file(source).hash  # before: the copy may move ``src^1``
        landed = self.store.copy_file(source, ref(dst, COPY_DIR))
        self._record(dst, landed, [("replace", COPY_DIR, tree)])
        if landed is not None:
            assert self.store.inspect_file(ref(dst, COPY_DIR)).hash == shared

    @rule(
        branch=writable,
        writes=st.lists(
            st.tuples(st.sampled_from(FILE_PATHS), st.none() | contents), min_size=1, max_size=5
        ),
        abort=st.booleans(),
    )
    def commit_block(
        self, branch: str, writes: list[tuple[str, bytes | None]], abort: bool
    ) -> None:
        """A ``with store.commit(...)`` block lands on its own, even beside an open commit."""
        ops: list[Op] = [("delete", p) if d is None else ("put", p, d) for p, d in writes]
        try:
            with self.store.commit(ref(branch)) as c:
                for path, data in writes:
                    if data is None:
                        c.delete_file(path)
                    else:
                        c.put_file(path, data)
                abandon_if(abort)
        except Aborted:
            self.abandoned += 1
            return
        self._land(branch, c.landed, ops)

    # -- thresholds of the storage format --------------------------------------------------

    @rule(
        branch=writable,
        count=st.sampled_from(BATCH_SIZES),
        medium=st.booleans(),
        generation=st.integers(0, 2),
        how=st.sampled_from(("put_file", "commit block", "abandoned commit block")),
    )
    def put_batch_of_small_files(
        self, branch: str, count: int, medium: bool, generation: int, how: str
    ) -> None:
        """A local folder of >= 16 new small files is stored as one pack; an object too large
        for a pack stays loose; past MAX_LEAF files the folder is sharded, and a pack of
        SORTED_MIN objects has an index too long for one tail read. Batches of one generation
        share their files, so a batch may reuse a pack, or rewrite one gc took."""
        count = min(count, self.largest_batch)
        files = batch_files(generation, count, medium=medium)
        local = batch_dir(generation, count, medium=medium)
        ops: list[Op] = [("put", f"{BATCH_DIR}/{n}", d) for n, d in files.items()]
        if how == "put_file":
            self._record(branch, self.store.put_file(ref(branch, BATCH_DIR), local), ops)
        else:
            try:
                with self.store.commit(ref(branch)) as c:
                    c.put_dir(BATCH_DIR, local)
                    abandon_if(how == "abandoned commit block")
            except Aborted:
                self.abandoned += 1
            else:
                self._land(branch, c.landed, ops)
        for name, blob in files.items():
            hit = self.store.objects.packs.find(digest(blob))
            if name == "medium":
                assert hit is None, "an object larger than PACK_OBJECT_MAX was packed"
            else:
                assert hit is not None, f"{name} of a {count}-file batch is not in a pack"
                assert not is_tree_pack(hit[0])

    @rule(
        branch=writable,
        name=st.sampled_from(LARGE_NAMES),
        seed=st.integers(0, 1),
        tail=st.integers(0, 1),
        how=st.sampled_from(("stream", "local file", "bytes", "abandoned stream")),
    )
    def put_large_file(self, branch: str, name: str, seed: int, tail: int, how: str) -> None:
        """A file one byte past the chunk size is stored as two chunks (equal first chunks
        once), however its bytes arrive; an abandoned one leaves its chunks to gc, and a later
        put stores them again."""
        data = large_content(seed, tail)
        path = f"{LARGE_DIR}/{name}"
        if how == "abandoned stream":
            try:
                with self.store.commit(ref(branch)) as c:
                    c.put_file(path, io.BytesIO(data))
                    abandon_if(True)
            except Aborted:
                self.abandoned += 1
            return
        source: bytes | io.BytesIO | Path
        if how == "bytes":
            source = data
        elif how == "stream":
            source = io.BytesIO(data)
        else:
            source = self.scratch / f"large-{seed}-{tail}"
            if not source.exists():
                source.write_bytes(data)
        landed = self.store.put_file(ref(branch, path), source)
        self._record(branch, landed, [("put", path, data)])
        if landed is not None:
            assert self.store.inspect_file(ref(branch, path)).hash == chunked_hash(data)

    @rule(branch=writable, width=st.integers(WIDE_MIN, WIDE_MIN + 4), data=contents)
    def grow_deep_and_wide_tree(self, branch: str, width: int, data: bytes) -> None:
        """16 nested folders and 16+ sibling folders in one commit: its new tree nodes are
        stored as a tree pack."""
        self.serial += 1
        tag = b"tree %d:" % self.serial + data
        puts = [(DEEP_FILE, tag)] + [
            (f"{WIDE_DIR}/w{i:02d}/f", tag + b"%d" % i) for i in range(width)
        ]
        with self.store.commit(ref(branch)) as c:
            for path, blob in puts:
                c.put_file(path, blob)
        self._land(branch, c.landed, [("put", p, d) for p, d in puts])
        for folder in (WIDE_DIR, "/deep"):
            node = self.store.inspect_file(ref(branch, folder)).hash
            hit = self.store.objects.packs.find(node, tree=True)
            assert hit is not None, f"the new node of {folder} is not in a pack"
            assert is_tree_pack(hit[0]), f"the new node of {folder} is in a data pack"

    # -- open commits ----------------------------------------------------------------------

    @rule(branch=writable)
    def start_commit(self, branch: str) -> None:
        if branch in self.model.open:
            with pytest.raises(CommitNotFinished):
                self.store.start_commit(ref(branch))
            return
        commit = self.store.start_commit(ref(branch))
        assert not commit.is_finished
        self.model.open[branch] = OpenCommit(commit.id)

    @rule(branch=writable, by_id=st.booleans())
    def finish_commit(self, branch: str, by_id: bool) -> None:
        """Finishing applies the open commit's writes to the head the branch has *now*."""
        if branch not in self.model.open:
            with pytest.raises(CommitFinished):
                self.store.finish_commit(ref(branch))
            return
        open_commit = self.model.open.pop(branch)
        landed = self.store.finish_commit(f"{REPO}@{open_commit.id}" if by_id else ref(branch))
        assert landed.id == open_commit.id
        self._land(branch, landed, open_commit.ops)

    @rule(branch=writable)
    def abandon_open_commit(self, branch: str) -> None:
        if branch not in self.model.open:
            with pytest.raises(CommitFinished):
                self.store.delete_commit(ref(branch))
            return
        self.store.delete_commit(ref(branch))
        del self.model.open[branch]
        self.abandoned += 1

    # -- branches and heads ----------------------------------------------------------------

    @rule(branch=writable)
    def create_branch(self, branch: str) -> None:
        """A new branch gets an empty AUTO commit; creating an existing one changes nothing."""
        if branch in self.model.heads:
            assert self.store.create_branch(ref(branch)).head == self.model.heads[branch]
            return
        self._create_branch_with_auto_commit(branch)

    @rule(dst=writable, src=writable, ancestry=st.sampled_from(ANCESTRY))
    def move_head(self, dst: str, src: str, ancestry: str) -> None:
        """``create_branch(head=repo@src^N)`` points the branch at that commit, by reference."""
        head = f"{REPO}@{src}{ancestry}"
        found = self._source(src, ancestry)
        if isinstance(found, type):
            with pytest.raises(found):
                self.store.create_branch(ref(dst), head=head)
            return
        target = self.model.resolve(src, ancestry)
        assert self.store.create_branch(ref(dst), head=head).head == target
        assert target is not None
        self.model.heads[dst] = target

    @rule(edge=trigger_edges, kind=st.sampled_from(sorted(TRIGGER_KINDS)))
    def set_trigger(self, edge: tuple[str, str], kind: str) -> None:
        target, source = edge
        trigger = Trigger(branch=source, **TRIGGER_KINDS[kind])
        self.store.create_branch(ref(target), trigger=trigger)
        for entry in self.store.branch_log(REPO, target):
            if entry.reason == "create" and entry.head not in self.model.commits:
                assert entry.head is not None
                auto = self.store.inspect_commit(f"{REPO}@{entry.head}")
                assert auto.origin == Origin.AUTO
                assert auto.parent is None
                self.model.commits[entry.head] = Snapshot({}, None)
        self.model.triggers[target] = trigger

    @rule(branch=st.sampled_from((*BRANCHES, *TRIGGERED)))
    def delete_branch(self, branch: str) -> None:
        """Deleting a branch (and its trigger) keeps its commits; an open commit stays open."""
        if branch not in self.model.heads and branch not in self.model.triggers:
            with pytest.raises(BranchNotFound):
                self.store.delete_branch(ref(branch))
            return
        self.store.delete_branch(ref(branch))
        self.model.heads.pop(branch, None)
        self.model.triggers.pop(branch, None)

    def _written(self) -> tuple[int, int, int]:
        """Changes whenever objects were written: commits, open-commit writes, abandoned ones."""
        return (
            len(self.model.commits),
            sum(len(o.ops) for o in self.model.open.values()),
            self.abandoned,
        )

    @precondition(lambda self: self._written() != self.written_at_gc)
    @rule()
    def gc_with_no_grace_period(self) -> None:
        """gc between steps: nothing any commit or open commit references may go."""
        gc(self.store, grace=0)
        self.read_ok.clear()
        self.written_at_gc = self._written()

    # -- invariants ------------------------------------------------------------------------

    def _digest(self, store: Store, at: str, info: FileInfo) -> str:
        """The digest of a listed file's bytes, read through ``open_file`` (once until gc)."""
        known = self.read_ok.get(info.hash)
        if known is None:
            data = store.get_file(f"{at}:{info.path}")
            assert len(data) == info.size, f"{at}:{info.path} read short"
            known = self.read_ok[info.hash] = digest(data)
        return known

    @invariant()
    def fsck_finds_no_problem(self) -> None:
        report = fsck(Store(self.reader.backend))  # nothing cached: as ``dvctl fsck`` runs
        assert report.ok, report.problems
        assert not report.leftovers, report.leftovers

    @invariant()
    def every_head_is_readable_and_holds_what_the_model_holds(self) -> None:
        """Every branch's head commit can be inspected, listed and read; a written branch
        holds its model commit (and has its history), a triggered one a commit the model knows."""
        store = self.reader
        listed = {b.name: b for b in store.list_branch(REPO)}
        assert sorted(listed) == sorted([*self.model.heads, *self.model.triggers])
        for branch, info in listed.items():
            commit = store.inspect_commit(ref(branch))
            assert commit.id == info.head
            assert commit.is_finished
            at = f"{REPO}@{commit.id}"  # resolved once: what follows costs no ref lookups
            files = {f.path: f for f in store.walk_file(at) if f.type == "file"}
            assert commit.size_bytes == sum(f.size for f in files.values())
            digests = {p: self._digest(store, at, f) for p, f in files.items()}

            if branch in self.model.heads:
                assert info.head == self.model.heads[branch]
                assert info.trigger is None
                assert [c.id for c in store.list_commit(at)] == self.model.chain(commit.id)
            else:
                assert info.trigger == self.model.triggers[branch]
                assert info.head in self.model.commits, f"{branch} is on an unknown commit"
                if commit.origin != Origin.AUTO:
                    event("a trigger moved its branch")
            expected = self.model.commits[str(info.head)].files
            assert {p: f.size for p, f in files.items()} == {p: len(v) for p, v in expected.items()}
            assert digests == {p: digest(v) for p, v in expected.items()}
            top = [f.path for f in store.list_file(at)]
            assert top == sorted({"/" + p[1:].split("/")[0] for p in expected})


class LocalStoreMachine(StoreMachine):
    backend = "local"


class S3StoreMachine(StoreMachine):
    """On S3 each run starts past the pack, chunk and tree-pack thresholds: a few short runs
    would otherwise miss some. Batches stop at 16 files there: a sharded folder has the same
    shape on every backend, and fsck would spend hundreds of requests a step on its objects."""

    backend = "s3"
    largest_batch = PACK_MIN_OBJECTS

    @initialize(branch=writable, data=contents)
    def start_past_every_threshold(self, branch: str, data: bytes) -> None:
        self.put_batch_of_small_files(branch, PACK_MIN_OBJECTS, True, 0, "put_file")
        self.put_large_file(branch, LARGE_NAMES[0], 0, 0, "stream")
        self.grow_deep_and_wide_tree(branch, WIDE_MIN, data)


@pytest.fixture
def s3_machine_root(s3_bucket: str, s3_storage_options: dict[str, Any]) -> Iterator[None]:
    """Points ``S3StoreMachine`` at a fresh bucket on the moto server (a state machine cannot
    take fixtures itself); each run of the machine uses its own prefix in it."""
    S3StoreMachine.s3_root = (f"s3://{s3_bucket}", s3_storage_options)
    yield
    S3StoreMachine.s3_root = None


# Derandomisation and deadlines come from the loaded profile (tests/conftest.py).
StoreMachine.TestCase.settings = settings(max_examples=30, stateful_step_count=25)
LocalStoreMachine.TestCase.settings = settings(max_examples=15, stateful_step_count=25)
S3StoreMachine.TestCase.settings = settings(max_examples=4, stateful_step_count=5)

# hypothesis gives up shrinking a failure after 300 s, the suite's timeout; a failing machine
# gets more, so it is reported shrunk instead of killed.
shrinks_in_time = pytest.mark.timeout(480)
TestStoreMachineOnMemory = shrinks_in_time(StoreMachine.TestCase)
TestStoreMachineOnLocalDisk = shrinks_in_time(LocalStoreMachine.TestCase)
TestStoreMachineOnS3 = shrinks_in_time(
    pytest.mark.s3(pytest.mark.usefixtures("s3_machine_root")(S3StoreMachine.TestCase))
)
