"""Running a pipeline's code on one datum: inputs on local disk, code, outputs back to the store.

Each datum gets a private scratch directory laid out like a Pachyderm worker's: inputs under
``pfs/<input name>/<matched path>`` and an empty ``pfs/out``. A Python transform receives a
``Datum`` pointing there; a ``transform.cmd`` runs as a subprocess (argv, no shell) that sees
that directory at ``/pfs`` — in a private mount namespace where the machine allows one, else by
rewriting ``/pfs`` in its arguments and stdin (``sandbox.py``) — with Pachyderm's environment
(``cmd_env``) and ``transform.working_dir`` as its directory, so a spec written for a container
runs unchanged.

Where the command's output goes is a ``CommandChannel``'s business: with none (``dvctl``, plain
``run_job``) its lines go to the ``dagster_versioned.pipelines`` logger; inside a Dagster step the
asset passes a Dagster Pipes channel, which opens one Pipes session per datum so a Pipes-aware
command (``dagster_pipes.open_dagster_pipes()``) can log and report metadata to the run.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from dagster_versioned.errors import VersionedError
from dagster_versioned.pps.commands import commands_cancelled, run_command
from dagster_versioned.pps.datums import DatumInput, DatumSpec
from dagster_versioned.pps.inputs import pfs_inputs
from dagster_versioned.pps.jobs import DatumState, JobStats
from dagster_versioned.pps.output import InputFiles
from dagster_versioned.pps.sandbox import pfs_mode, rewrite, scripts_naming_pfs, wrap
from dagster_versioned.pps.spec import PipelineSpec
from dagster_versioned.store import Store
from dagster_versioned.store.trees import Entry

log = logging.getLogger("dagster_versioned.pipelines")


class CommandChannel(Protocol):
    """Where a ``transform.cmd`` subprocess reports: its output and any structured messages.

    The runner knows nothing of Dagster; the Dagster asset hands it a channel built on Dagster
    Pipes (``dagster_versioned.pipelines.pipes``). ``session`` wraps one subprocess (one datum
    try) and yields the extra environment variables to start it with.
    """

    def session(
        self, pipeline: str, datum_id: str, job_id: str
    ) -> AbstractContextManager[dict[str, str]]:
        """Open a reporting session for one subprocess; yields environment variables for it."""
        ...

    def output(self, pipeline: str, datum_id: str, stream: str, text: str) -> None:
        """Receive the subprocess's whole ``stdout`` or ``stderr`` once it exited."""
        ...


class LogChannel:
    """The channel used outside Dagster: output lines go to the runner's logger."""

    @contextmanager
    def session(self, pipeline: str, datum_id: str, job_id: str) -> Iterator[dict[str, str]]:
        yield {}

    def output(self, pipeline: str, datum_id: str, stream: str, text: str) -> None:
        for line in text.splitlines():
            log.info("%s %s [%s]: %s", pipeline, datum_id[:12], stream, line)


class Datum:
    """What a Python transform gets for one datum.

    Example::

        @pipeline(input=pfs("images", glob="/*"))
        def edges(datum: Datum) -> None:
            for src in datum.files("images"):
                (datum.out / src.name).write_bytes(process(src.read_bytes()))
    """

    def __init__(self, spec: DatumSpec, root: Path, job_id: str, pipeline: str) -> None:
        self.spec = spec
        self.id = spec.id
        self.job_id = job_id
        self.pipeline = pipeline
        self.root = root
        self.out = root / "out"
        self.params: dict[str, Any] = {}

    @property
    def input_names(self) -> list[str]:
        return list(dict.fromkeys(i.name for i in self.spec.inputs))

    def path(self, name: str | None = None) -> Path:
        """The directory holding input ``name`` (``/pfs/<name>``); the only input by default."""
        return self.root / self._name(name)

    def files(self, name: str | None = None) -> list[Path]:
        """Local paths of every file of input ``name`` in this datum, sorted."""
        base = self.path(name)
        found: list[Path] = []
        for inp in self.spec.inputs:
            if inp.name != base.name:
                continue
            top = base / inp.path.lstrip("/")
            if top.is_file():
                found.append(top)
            elif top.is_dir():
                found.extend(p for p in top.rglob("*") if p.is_file())
        return sorted(set(found))

    def _name(self, name: str | None) -> str:
        names = self.input_names
        if name is None:
            if len(names) != 1:
                raise ValueError(f"this datum has inputs {names}: name the one you want")
            return names[0]
        if name not in names:
            raise KeyError(f"no input named {name!r} in this datum; inputs: {names}")
        return name


@dataclass
class DatumResult:
    state: DatumState
    outputs: dict[str, Entry] = field(default_factory=dict)
    stats: JobStats = field(default_factory=JobStats)
    reason: str = ""
    tries: int = 0


def materialize(store: Store, inputs: tuple[DatumInput, ...], root: Path) -> int:
    """Write the datum's input files under ``root/<input name>/``; returns bytes written."""
    return sum(
        store.checkout_entry(
            inp.entry,
            root / inp.name / inp.path.lstrip("/"),
            atomic=False,
            empty_files=inp.empty_files,
        ).bytes
        for inp in inputs
    )


def collect_outputs(
    store: Store, out: Path, inputs: tuple[DatumInput, ...] = ()
) -> tuple[dict[str, Entry], int]:
    """Store every file under ``out``; returns path → entry and the bytes uploaded.

    A symlink to one of the datum's input files is stored by reference (its entry, as
    Pachyderm's shuffle example expects), one inside ``out`` by content; any other is refused
    (``store/upload.py``, ``LinkOutside``). Bytes count only what was read and stored.
    """
    linked = InputFiles(store, inputs, out.parent)
    outputs: dict[str, Entry] = {}
    uploaded = 0
    for rel, entry in store.upload_outputs(
        out, inputs=linked, allowed=[out.parent], mounted=("/pfs", out.parent)
    ):
        outputs[f"/{rel}"] = entry
        uploaded += 0 if linked.is_reference(entry) else entry.size
    return outputs, uploaded


def run_datum(
    store: Store,
    spec: PipelineSpec,
    datum: DatumSpec,
    job_id: str,
    scratch: Path,
    params: dict[str, Any] | None = None,
    channel: CommandChannel | None = None,
) -> DatumResult:
    """Process one datum with retries (``datum_tries``) and ``datum_timeout``.

    ``channel`` receives a ``transform.cmd``'s output (the runner's logger when ``None``).
    """
    channel = channel or LogChannel()
    reason = ""
    stats = JobStats()
    for attempt in range(1, spec.datum_tries + 1):
        if commands_cancelled(spec.name, job_id):
            break
        root = scratch / datum.id / "pfs"
        shutil.rmtree(root.parent, ignore_errors=True)
        (root / "out").mkdir(parents=True)
        t0 = time.perf_counter()
        downloaded = materialize(store, datum.inputs, root)
        t1 = time.perf_counter()
        try:
            _run_code(spec, datum, root, job_id, params or {}, channel)
        except Exception as e:  # the user's code failed: that is a failed try, not our crash
            reason = f"{type(e).__name__}: {e}"
            t2 = time.perf_counter()
            stats = stats + JobStats(
                download_time=t1 - t0, process_time=t2 - t1, download_bytes=downloaded
            )
            log.warning(
                "datum %s of %s failed (try %d/%d): %s",
                datum.id,
                spec.name,
                attempt,
                spec.datum_tries,
                reason,
            )
            continue
        t2 = time.perf_counter()
        try:
            outputs, uploaded = collect_outputs(store, root / "out", datum.inputs)
        except VersionedError as e:  # a refused symlink: the datum's fault, not ours
            reason = str(e)
            log.warning("datum %s of %s failed: %s", datum.id, spec.name, reason)
            break
        t3 = time.perf_counter()
        shutil.rmtree(root.parent, ignore_errors=True)
        stats = stats + JobStats(
            download_time=t1 - t0,
            process_time=t2 - t1,
            upload_time=t3 - t2,
            download_bytes=downloaded,
            upload_bytes=uploaded,
        )
        return DatumResult(DatumState.SUCCESS, outputs, stats, tries=attempt)
    shutil.rmtree(scratch / datum.id, ignore_errors=True)
    if spec.err_cmd and _recover(spec, datum, scratch, job_id, channel):
        return DatumResult(DatumState.RECOVERED, {}, stats, reason, tries=spec.datum_tries)
    return DatumResult(DatumState.FAILED, {}, stats, reason, tries=spec.datum_tries)


def _run_code(
    spec: PipelineSpec,
    datum: DatumSpec,
    root: Path,
    job_id: str,
    params: dict[str, Any],
    channel: CommandChannel,
) -> None:
    if spec.fn is not None:
        d = Datum(datum, root, job_id, spec.name)
        d.params = params
        _call_with_timeout(spec.fn, d, spec.datum_timeout)
        return
    _run_cmd(spec.cmd, spec.stdin, spec, datum, root, job_id, spec.accept_return_code, channel)


def _call_with_timeout(fn: Any, datum: Datum, timeout: float | None) -> None:
    if timeout is None:
        fn(datum)
        return
    box: dict[str, BaseException] = {}

    def target() -> None:
        try:
            fn(datum)
        except BaseException as e:
            box["error"] = e

    worker = threading.Thread(target=target, daemon=True, name=f"datum-{datum.id[:8]}")
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise TimeoutError(f"datum timed out after {timeout:g}s")
    if "error" in box:
        raise box["error"]


def cmd_env(spec: PipelineSpec, datum: DatumSpec, root: Path, job_id: str) -> dict[str, str]:
    """What Pachyderm's ``UserCodeEnv`` gives user code, ``root`` standing for ``/pfs``.

    Per input: ``<name>`` (its matched path), ``<name>_COMMIT``, and
    ``PACH_DATUM_<name>_JOIN_ON`` / ``_GROUP_BY`` when the input joins or groups; then
    ``PACH_DATUM_ID``, ``PACH_JOB_ID``, ``PACH_OUTPUT_COMMIT_ID`` (the output commit is the
    job's id). ``transform.env`` is the container's environment there, so those win over it.
    ``PFS_ROOT``, ``PFS_OUT``, ``PFS_<NAME>`` are ours, for code written against this package.
    """
    env = {**os.environ, **spec.env}
    env.update(PFS_ROOT=str(root), PFS_OUT=str(root / "out"))
    leaves = {leaf.input_name: leaf for leaf in pfs_inputs(spec.input)} if spec.input else {}
    for inp in datum.inputs:
        safe = re.sub(r"\W", "_", inp.name)
        env[f"PFS_{safe.upper()}"] = str(root / inp.name)
    for inp in datum.inputs:
        env[inp.name] = str(root / inp.name / inp.path.lstrip("/"))
        env[f"{inp.name}_COMMIT"] = inp.commit
        leaf = leaves.get(inp.name)
        if inp.key and (leaf is None or leaf.join_on):
            env[f"PACH_DATUM_{inp.name}_JOIN_ON"] = inp.key
        elif inp.key:
            env[f"PACH_DATUM_{inp.name}_GROUP_BY"] = inp.key
    env.update(PACH_DATUM_ID=datum.id, PACH_JOB_ID=job_id, PACH_OUTPUT_COMMIT_ID=job_id)
    return env


_LOGGED: set[str] = set()
_LOGGED_LOCK = threading.Lock()


def _note_mode(spec: PipelineSpec, job_id: str, mode: str) -> None:
    """Say once per job how its commands see ``/pfs``: it decides whether a hard-coded path
    in a script works."""
    key = f"{spec.name}@{job_id}"
    with _LOGGED_LOCK:
        if key in _LOGGED:
            return
        _LOGGED.add(key)
    how = "rewritten in cmd and stdin only" if mode == "rewrite" else f"mounted ({mode})"
    log.info("job %s: /pfs is %s", key, how)


def _working_dir(spec: PipelineSpec, root: Path, namespaced: bool) -> str:
    """Pachyderm runs user code in ``/`` + ``transform.working_dir``; without one, in the
    datum's scratch folder (the image's own working directory has no meaning here)."""
    wd: str | None = getattr(spec, "working_dir", None)
    if not wd:
        return str(root.parent)
    path = os.path.join("/", wd)
    return path if namespaced else rewrite(path, root)


def _run_cmd(
    cmd: tuple[str, ...],
    stdin: tuple[str, ...],
    spec: PipelineSpec,
    datum: DatumSpec,
    root: Path,
    job_id: str,
    accept: tuple[int, ...],
    channel: CommandChannel,
    *,
    check_empty: bool = True,
) -> None:
    mode = pfs_mode()
    _note_mode(spec, job_id, mode)
    namespaced = mode != "rewrite"
    view = Path("/pfs") if namespaced else root
    argv = list(cmd) if namespaced else [rewrite(a, root) for a in cmd]
    lines = stdin if namespaced else tuple(rewrite(line, root) for line in stdin)
    data = "\n".join(lines) + ("\n" if lines else "")
    cwd = _working_dir(spec, root, namespaced)
    run_argv = wrap(mode, argv, root, cwd, root.parent / "root") if namespaced else argv
    with channel.session(spec.name, datum.id, job_id) as extra_env:
        out, err, code = run_command(
            run_argv,
            data.encode(),
            env={**cmd_env(spec, datum, view, job_id), **extra_env},
            cwd=root.parent if namespaced else Path(cwd),
            timeout=spec.datum_timeout,
            job=f"{spec.name}@{job_id}",
        )
    stdout = out.decode(errors="replace")
    stderr = err.decode(errors="replace")
    if stdout:
        channel.output(spec.name, datum.id, "stdout", stdout)
    if stderr:
        channel.output(spec.name, datum.id, "stderr", stderr)
    if code != 0 and code not in accept:
        tail = stderr.strip().splitlines()[-5:]
        raise RuntimeError(f"{argv[0]} exited with code {code}: {' | '.join(tail)}")
    if not namespaced and check_empty:
        search_path = spec.env.get("PATH", os.environ.get("PATH"))
        _refuse_silent_rewrite(argv, lines, root, Path(cwd), search_path)


def _refuse_silent_rewrite(
    argv: list[str], lines: tuple[str, ...], root: Path, cwd: Path, search_path: str | None
) -> None:
    """Fail a datum that had input, wrote nothing, and ran a script hard-coding ``/pfs``:
    rewriting never reaches inside a script, so it read and wrote nothing — a job that
    succeeds empty would hide that."""
    if any((root / "out").iterdir()) or not any(
        p.is_file() for d in root.iterdir() if d.name != "out" for p in d.rglob("*")
    ):
        return
    scripts = scripts_naming_pfs([*argv, *lines], cwd, search_path)
    if scripts:
        raise RuntimeError(
            f"{', '.join(scripts)} hard-codes /pfs, which is rewritten only in cmd and stdin "
            "here (DAGSTER_VERSIONED_PFS=rewrite, or no bwrap/unshare), and the datum wrote "
            "no output; install bubblewrap so commands see a real /pfs"
        )


def _recover(
    spec: PipelineSpec, datum: DatumSpec, scratch: Path, job_id: str, channel: CommandChannel
) -> bool:
    root = scratch / datum.id / "pfs"
    (root / "out").mkdir(parents=True, exist_ok=True)
    try:
        _run_cmd(spec.err_cmd, (), spec, datum, root, job_id, (), channel, check_empty=False)
    except (RuntimeError, TimeoutError):
        return False
    finally:
        shutil.rmtree(scratch / datum.id, ignore_errors=True)
    return True
