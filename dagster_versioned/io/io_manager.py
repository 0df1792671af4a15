"""``VersionedIOManager``: every asset output is a commit; every input reads one exact commit.

Output: the value is serialised by type (:mod:`dagster_versioned.io.formats`) and committed to
the repo named after the asset key (``["a", "b"]`` → ``a-b``; metadata ``dv/repo`` overrides) on
the configured branch, replacing the output's root (``/``, or the partition's directory). The
commit id is the run's global id, so one run's outputs across all repos form one commit set.
Partitions are paths inside one repo, and the store rebases a commit whose branch moved
meanwhile, so runs writing different partitions at the same time all land.

Input: the upstream repo is read at one commit, chosen in this order: the input's ``dv/ref``
metadata; the IO manager's ``pins``; the run tag ``dagster_versioned/pin/<repo>``; the run's
``input_commit`` tag (set by branch sensors); the commit this run wrote to that repo (the run's
global id); else the branch head. Several upstream partitions load as ``{partition_key: value}``.

"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr

from dagster_versioned.errors import AlreadyExists, CommitNotFound, InvalidRef, PathNotFound
from dagster_versioned.io import outputs
from dagster_versioned.io.formats import format_for_filename, serialise
from dagster_versioned.io.resource import (
    STORAGE_DESCRIPTION,
    STORAGE_OPTIONS_DESCRIPTION,
    open_store,
)
from dagster_versioned.io.tags import (
    COMMIT_TAG_PREFIX,
    FORMAT_KEY,
    GLOBAL_ID_TAG,
    INPUT_COMMIT_TAG,
    PIN_TAG_PREFIX,
    REF_KEY,
    check_global_id,
    global_id_for_run,
    parse_input_commits,
)
from dagster_versioned.store.commits import Commit, CommitId, CommitRef, new_commit_id
from dagster_versioned.store.names import is_commit_id, join_path, parse_ref
from dagster_versioned.store.store import Store


class VersionedIOManager(dg.ConfigurableIOManager):
    """Stores each asset output as a commit in a versioned repo (see the module docstring).

    Example::

        @dg.asset
        def sales() -> pd.DataFrame: ...            # → repo "sales", /data.parquet

        @dg.asset(ins={"sales": dg.AssetIn(metadata={"dv/ref": "master^1"})})
        def previous_total(sales: pd.DataFrame) -> float: ...   # reads the commit before the head

        defs = dg.Definitions(
            assets=[sales, previous_total],
            resources={"io_manager": VersionedIOManager(storage="s3://bucket/dv")},
        )
    """

    storage: str | None = Field(default=None, description=STORAGE_DESCRIPTION)
    storage_options: dict[str, Any] = Field(
        default_factory=dict, description=STORAGE_OPTIONS_DESCRIPTION
    )
    branch: str = Field(default="master", description="Branch that outputs are committed to.")
    pins: dict[str, str] = Field(
        default_factory=dict,
        description="repo → ref to read instead of the branch head (time travel), "
        "e.g. {'images': 'master^2'} or {'images': '<commit id>'}.",
    )
    local_dir: str | None = Field(
        default=None,
        description="Where directory (tree) inputs are copied to, one read-only copy per tree "
        "hash; default: <tmp>/dagster_versioned/trees.",
    )
    _store: Store | None = PrivateAttr(default=None)
    _repos: set[str] = PrivateAttr(default_factory=set)
    _loaded: dict[str, dict[str, CommitRef]] = PrivateAttr(default_factory=dict)
    _asked: dict[str, dict[str, str]] = PrivateAttr(default_factory=dict)
    _tagged_runs: set[str] = PrivateAttr(default_factory=set)

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.storage, self.storage_options)
        return self._store

    # -- output ----------------------------------------------------------------------------

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if obj is None:
            context.log.debug("output is None: nothing committed (annotate the asset -> None)")
            return
        meta = context.definition_metadata or {}
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dv-run-tags") as tagger:
            # Tagging a run with its new global id is a write to Dagster's run storage (a
            # database transaction, an fsync on SQLite): it runs while the value is encoded.
            if context.has_asset_key:
                repo, branch = outputs.repo_and_branch(context.asset_key, meta, self.branch)
                root = outputs.output_root(context)
                commit_id, tagged = self._run_global_id(context, tagger)
            else:
                repo, branch = outputs.op_repo(context.job_name), self.branch
                root = outputs.op_root(context.get_identifier())
                commit_id, tagged = new_commit_id(), None
            fmt, data = serialise(obj, meta.get(FORMAT_KEY))
            data_path = join_path(root, fmt.filename)
            payload: Any = outputs.check_tree(obj) if data is None else data
            if data is None and obj.is_file():  # a single file is a tree of one: data/<name>
                data_path = join_path(data_path, obj.name)
            if tagged is not None:
                tagged.result()
        commit = self._commit(context, repo, branch, commit_id, root, data_path, payload)
        context.add_output_metadata(
            {
                **outputs.output_metadata(self.store, commit, root=root, data_path=data_path),
                **self._inputs_read(context),
            }
        )

    def _inputs_read(self, context: dg.OutputContext) -> dict[str, dg.MetadataValue[Any]]:
        """``input_commits``: each input this step loaded, the exact commit and the ref asked."""
        loaded = self._loaded.get(context.step_key, {})
        if not loaded:
            return {}
        asked = self._asked.get(context.step_key, {})
        return {
            "input_commits": dg.MetadataValue.json(
                {
                    repo: {"commit": f"{ref.repo}@{ref.id}", "ref": asked.get(repo, "")}
                    for repo, ref in sorted(loaded.items())
                }
            )
        }

    def _commit(
        self,
        context: dg.OutputContext,
        repo: str,
        branch: str,
        commit_id: CommitId,
        root: str,
        data_path: str,
        payload: Any,
    ) -> Commit:
        self._ensure_repo(repo)
        description = outputs.describe(context)
        provenance = self._provenance(context, repo)
        for attempt in range(2):
            try:
                with self.store.commit(
                    f"{repo}@{branch}",
                    commit_id=commit_id,
                    description=description,
                    provenance=provenance,
                ) as c:
                    c.delete_file(root)
                    c.put_file(data_path, payload)
                if c.landed is not None:
                    return c.landed
                break
            except AlreadyExists:
                if attempt or not context.has_asset_key:
                    raise
                context.log.warning(
                    f"commit {commit_id} already exists in repo '{repo}' (a retried or "
                    "re-executed step): committing under a new id instead"
                )
                commit_id = new_commit_id()
                self._add_run_tags(context, {f"{COMMIT_TAG_PREFIX}{repo}": commit_id})
        return self.store.inspect_commit(f"{repo}@{commit_id}")

    def _ensure_repo(self, repo: str) -> None:
        if repo in self._repos:
            return
        with contextlib.suppress(AlreadyExists):
            self.store.create_repo(repo, description="written by VersionedIOManager")
        self._repos.add(repo)

    def _run_global_id(
        self, context: dg.OutputContext, tagger: ThreadPoolExecutor
    ) -> tuple[CommitId, Future[None] | None]:
        """The run's global id; a run without one gets its own, recorded as a run tag.

        The tag is written on ``tagger`` (the future is returned: wait for it before the
        output is done), once per run and IO manager: a later output of the run finds the run
        in ``_tagged_runs``, as its step's snapshot of the run predates the tag.
        """
        step = _step_context(context)
        if step is None:
            return new_commit_id(), None
        run = step.dagster_run
        tagged = run.tags.get(GLOBAL_ID_TAG)
        if tagged:
            return check_global_id(tagged), None
        global_id = global_id_for_run(run.run_id)
        if run.run_id in self._tagged_runs:
            return global_id, None
        return global_id, tagger.submit(self._tag_run, context, run.run_id, global_id)

    def _tag_run(self, context: dg.OutputContext, run_id: str, global_id: CommitId) -> None:
        self._add_run_tags(context, {GLOBAL_ID_TAG: global_id})
        self._tagged_runs.add(run_id)

    def _add_run_tags(self, context: dg.OutputContext, tags: Mapping[str, str]) -> None:
        step = _step_context(context)
        if step is not None:
            step.instance.add_run_tags(step.dagster_run.run_id, tags)

    def _provenance(self, context: dg.OutputContext, repo: str) -> tuple[CommitRef, ...]:
        step = _step_context(context)
        if step is None:
            return ()
        refs = dict(self._loaded.get(context.step_key, {}))
        for input_repo, cid in parse_input_commits(
            step.dagster_run.tags.get(INPUT_COMMIT_TAG, "")
        ).items():
            if input_repo not in refs:
                try:
                    input_commit = self.store.inspect_commit(f"{input_repo}@{cid}")
                except CommitNotFound:
                    continue
                refs[input_repo] = CommitRef(repo=input_repo, branch=input_commit.branch, id=cid)
        return tuple(ref for name, ref in sorted(refs.items()) if name != repo)

    # -- input -----------------------------------------------------------------------------

    def load_input(self, context: dg.InputContext) -> Any:
        upstream = context.upstream_output
        if upstream is None or not context.has_asset_key:
            if upstream is None:
                raise dg.DagsterInvariantViolationError(
                    "VersionedIOManager loads asset and op outputs only; this input has none"
                )
            repo = outputs.op_repo(upstream.job_name)
            ref = f"{repo}@{self.branch}"
            return self._load_root(context, repo, ref, outputs.op_root(upstream.get_identifier()))
        meta = upstream.definition_metadata or {}
        repo, branch = outputs.repo_and_branch(context.asset_key, meta, self.branch)
        asked = self._input_ref(context, repo, branch)
        commit = self.store.inspect_commit(asked)
        self._record_input(context, commit, asked)
        pinned = f"{repo}@{commit.id}"
        if not context.has_asset_partitions:
            return self._load_root(context, repo, pinned, "/")
        keys = context.asset_partition_keys
        if not keys:
            return None
        allow_missing = bool((context.definition_metadata or {}).get("allow_missing_partitions"))
        values: dict[str, Any] = {}
        for key in keys:
            try:
                values[key] = self._load_root(context, repo, pinned, outputs.partition_root(key))
            except PathNotFound:
                if not allow_missing:
                    raise
        if len(keys) == 1 and not _wants_dict(context) and keys[0] in values:
            return values[keys[0]]
        return values

    def _input_ref(self, context: dg.InputContext, repo: str, branch: str) -> str:
        """The ref an input reads (the order is in the module docstring)."""
        pin = (context.definition_metadata or {}).get(REF_KEY) or self.pins.get(repo)
        if pin:
            return _qualify_pin(str(pin), repo)
        step = _step_context(context)
        if step is None:
            return f"{repo}@{branch}"
        run = step.instance.get_run_by_id(step.dagster_run.run_id) or step.dagster_run
        tags = run.tags
        if tags.get(f"{PIN_TAG_PREFIX}{repo}"):
            return _qualify_pin(tags[f"{PIN_TAG_PREFIX}{repo}"], repo)
        commits = parse_input_commits(tags.get(INPUT_COMMIT_TAG, ""))
        if repo in commits:
            return f"{repo}@{commits[repo]}"
        written = tags.get(f"{COMMIT_TAG_PREFIX}{repo}")
        if written:
            return f"{repo}@{written}"
        global_id = tags.get(GLOBAL_ID_TAG) or global_id_for_run(run.run_id)
        try:
            if self.store.inspect_commit(f"{repo}@{global_id}").is_finished:
                return f"{repo}@{global_id}"
        except CommitNotFound:
            pass
        return f"{repo}@{branch}"

    def _record_input(self, context: dg.InputContext, commit: Commit, asked: str) -> None:
        """Remember what the step read: its output commits list these as provenance, and its
        materialisation shows each exact commit beside the ref that chose it (an input pinned
        to ``master^1`` says which commit that was on the day, dagster#21436)."""
        context.log.debug(f"input {context.asset_key.to_user_string()}: {commit.repo}@{commit.id}")
        step = _step_context(context)
        if step is not None:
            ref = CommitRef(repo=commit.repo, branch=commit.branch, id=commit.id)
            self._loaded.setdefault(step.step.key, {})[commit.repo] = ref
            self._asked.setdefault(step.step.key, {})[commit.repo] = asked

    def _load_root(self, context: dg.InputContext, repo: str, ref: str, root: str) -> Any:
        store = self.store
        children = {os.path.basename(c.path): c for c in store.list_file(f"{ref}:{root}")}
        data = [
            name
            for name, info in children.items()
            if (fmt := format_for_filename(name)) is not None
            and fmt.is_tree == (info.type == "dir")
        ]
        if len(data) != 1:
            return self._download(ref, root)
        fmt = format_for_filename(data[0])
        assert fmt is not None
        path = join_path(root, data[0])
        context.log.debug(f"loading dv://{ref}{path} ({fmt.name})")
        if fmt.is_tree:
            return self._download(ref, path)
        return fmt.load(store.get_file(f"{ref}:{path}"))

    def _download(self, ref: str, path: str) -> Path:
        """A local, read-only copy of a directory, shared by every reader of the same tree
        (named by its hash, so an existing copy is the same tree)."""
        entry, _ = self.store.lookup_entry(f"{ref}:{path}")
        base = Path(self.local_dir or Path(tempfile.gettempdir()) / "dagster_versioned" / "trees")
        return self.store.checkout_entry(entry, base / entry.hash, read_only=True).path


def _step_context(context: dg.InputContext | dg.OutputContext) -> Any:
    """The step context, or ``None`` for contexts built in unit tests without one."""
    try:
        return context.step_context
    except dg.DagsterInvariantViolationError:
        return None


def _qualify_pin(pin: str, repo: str) -> str:
    if "@" in pin:
        ref = parse_ref(pin, allow_path=False)
        if ref.repo != repo:
            raise InvalidRef(
                f"pinned ref '{pin}' is in repo '{ref.repo}', but the input is '{repo}'"
            )
        return pin
    if is_commit_id(pin):
        return f"{repo}@{pin}"
    parse_ref(f"{repo}@{pin}", allow_path=False)
    return f"{repo}@{pin}"


def _wants_dict(context: dg.InputContext) -> bool:
    typing_type = context.dagster_type.typing_type
    origin = getattr(typing_type, "__origin__", None)
    return typing_type is dict or origin in (dict, Mapping)
