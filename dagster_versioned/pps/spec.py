"""A pipeline's definition, independent of Dagster: inputs, transform, and Pachyderm's knobs.

``PipelineSpec`` is what ``@pipeline`` and ``pipeline_from_spec`` both produce; the runner needs
nothing else. ``load_spec_file`` reads a Pachyderm pipeline-spec JSON file unchanged — the
migration path — and refuses unknown or malformed fields by name rather than ignoring them.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dagster_versioned import durations
from dagster_versioned.errors import InvalidDuration, InvalidSpec
from dagster_versioned.pps.inputs import Input, input_from_spec, validate_names, with_cron_repos
from dagster_versioned.pps.protojson import normalise
from dagster_versioned.store.names import validate_branch_name, validate_repo_name

Transform = Callable[..., Any]

_REFUSED = {
    "spout": "spout pipelines (a long-running process pushing data in) are not supported",
    "service": "service pipelines (a long-running server) are not supported",
    "tf_job": "Kubeflow TFJob pipelines are not supported",
    "determined": "Determined integration is not supported",
    "dry_run": "a dry run creates no pipeline; drop the field to create it",
    "s3_out": "writing output through the S3 gateway is not supported; write to /pfs/out",
    "transform.secrets": "Kubernetes secrets are not supported; pass values in transform.env",
    "transform.datum_batching": "datum batching (NextDatum) is not supported",
    "input.pfs.s3": "serving an input through the S3 gateway is not supported",
}
"""Constructs that change what the pipeline computes: refused by name, never approximated."""
_PRESENCE = frozenset({"spout", "service", "tf_job", "determined"})
"""Message fields: protojson counts an empty object as set, so ``"spout": {}`` (how spout
examples are written) makes a spout pipeline and is refused like any other spout."""
_IGNORED = frozenset(
    {
        "resource_requests",
        "resource_limits",
        "sidecar_resource_limits",
        "sidecar_resource_requests",
        "scheduling_spec",
        "pod_spec",
        "pod_patch",
        "autoscaling",
        "tolerations",
        "metadata",
        "datum_set_spec",
        "spec_commit",
        "update",
        "reprocess",
        "cache_size",
        "max_queue_size",
        "enable_stats",
        "standby",
        "transform.user",
        "transform.image_pull_secrets",
        "transform.debug",
        "transform.dockerfile",
        "transform.memory_volume",
        "transform.err_stdin",
        "transform.build",
    }
)
"""Scheduling and container knobs with no effect on results here: accepted, recorded in
``PipelineSpec.migration_notes``."""
_REPROCESS_SPECS = ("until_success", "every_job")


@dataclass(frozen=True, kw_only=True)
class PipelineSpec:
    """Everything that defines a pipeline."""

    name: str
    input: Input
    fn: Transform | None = None
    """A Python transform, called once per datum with a ``Datum``."""
    cmd: tuple[str, ...] = ()
    """A command run once per datum (no shell unless the command is one)."""
    stdin: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    image: str | None = None
    """Recorded for migration; never pulled."""
    err_cmd: tuple[str, ...] = ()
    accept_return_code: tuple[int, ...] = ()
    output_branch: str = "master"
    description: str = ""
    salt: str = ""
    datum_tries: int = 3
    datum_timeout: float | None = None
    job_timeout: float | None = None
    parallelism: int = 1
    egress: str | None = None
    reprocess_spec: str = "until_success"
    working_dir: str | None = None
    """The directory the command runs in (Pachyderm's ``transform.working_dir``)."""
    migration_notes: tuple[str, ...] = ()
    """Spec fields accepted without effect here (Kubernetes scheduling knobs), one line each."""

    def __post_init__(self) -> None:
        try:
            validate_repo_name(self.name)
            validate_branch_name(self.output_branch)
        except ValueError as e:
            raise InvalidSpec(f"pipeline '{self.name}': {e}") from e
        if (self.fn is None) == (not self.cmd):
            given = "neither" if self.fn is None else "both"
            raise InvalidSpec(
                f"pipeline '{self.name}': give exactly one of a function or a cmd, got {given}"
            )
        for key in ("datum_timeout", "job_timeout"):
            value: Any = getattr(self, key)
            if value is not None and not isinstance(value, float):
                # ``@pipeline(job_timeout="1h30m")`` reads as a spec file's field does.
                seconds = durations.parse_duration(value, f"pipeline '{self.name}': {key}")
                object.__setattr__(self, key, seconds)
        if self.datum_tries < 1:
            raise InvalidSpec(
                f"pipeline '{self.name}': datum_tries must be ≥ 1, got {self.datum_tries!r}"
            )
        if self.parallelism < 1:
            raise InvalidSpec(
                f"pipeline '{self.name}': parallelism must be ≥ 1, got {self.parallelism!r}"
            )
        if self.reprocess_spec not in _REPROCESS_SPECS:
            raise InvalidSpec(
                f"pipeline '{self.name}': reprocess_spec must be 'until_success' or 'every_job', "
                f"got {self.reprocess_spec!r}"
            )
        object.__setattr__(self, "input", with_cron_repos(self.input, self.name))
        validate_names(self.input)

    @property
    def transform_hash(self) -> str:
        """Changes when the code changes, so a new transform reprocesses every datum."""
        if self.fn is not None:
            try:
                source = inspect.getsource(self.fn)
            except (OSError, TypeError):
                source = getattr(self.fn, "__qualname__", repr(self.fn))
            text = f"fn:{getattr(self.fn, '__module__', '')}.{source}"
        else:
            parts: list[Any] = [self.cmd, self.stdin, sorted(self.env.items()), self.image]
            if self.working_dir:
                parts.append(self.working_dir)  # only when set: existing hashes stay put
            text = json.dumps(parts)
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def transform_json(self) -> dict[str, Any]:
        if self.fn is not None:
            return {"python": f"{self.fn.__module__}.{self.fn.__qualname__}"}
        raw: dict[str, Any] = {"cmd": list(self.cmd)}
        if self.image:
            raw["image"] = self.image
        if self.working_dir:
            raw["working_dir"] = self.working_dir
        for key, value in (
            ("stdin", list(self.stdin)),
            ("env", self.env),
            ("err_cmd", list(self.err_cmd)),
            ("accept_return_code", list(self.accept_return_code)),
        ):
            if value:  # only when set, as protojson: a job's record says all the command ran
                raw[key] = value
        return raw

    def details(self, salt: str) -> dict[str, Any]:
        raw: dict[str, Any] = {
            "transform": self.transform_json(),
            "input": self.input.to_spec(),
            "salt": salt,
            "datum_tries": str(self.datum_tries),
            "parallelism_spec": {"constant": str(self.parallelism)},
        }
        if self.egress:
            raw["egress"] = {"URL": self.egress}
        if self.reprocess_spec != "until_success":
            raw["reprocess_spec"] = self.reprocess_spec
        if self.datum_timeout:
            raw["datum_timeout"] = f"{self.datum_timeout:g}s"
        if self.job_timeout:
            raw["job_timeout"] = f"{self.job_timeout:g}s"
        return raw


def parse_duration(value: Any, where: str) -> float:
    """Seconds in a Go duration (``1h30m``) or a number of seconds, via ``durations``."""
    try:
        return durations.parse_duration(value, where, positive=True)
    except InvalidDuration as e:
        raise InvalidSpec(str(e)) from e


def load_spec_file(path: str | Path) -> PipelineSpec:
    """Read one Pachyderm pipeline spec (JSON, or YAML for ``.yaml``/``.yml``)."""
    specs = load_spec_files(path)
    if len(specs) != 1:
        raise InvalidSpec(
            f"pipeline spec {path} holds {len(specs)} pipelines; expected one "
            "(use load_spec_files for a file of several)"
        )
    return specs[0]


def load_spec_files(path: str | Path) -> list[PipelineSpec]:
    """Every pipeline in a spec file, as ``pachctl create pipeline -f`` reads it: JSON objects
    one after another, or YAML documents separated by ``---``."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise InvalidSpec(f"cannot read pipeline spec {p}: {e.strerror or e}") from e
    docs = _yaml_documents(text, p) if p.suffix in (".yaml", ".yml") else _json_documents(text, p)
    if not docs:
        raise InvalidSpec(f"pipeline spec {p} is empty; expected a pipeline spec object")
    where = str(p)
    return [
        spec_from_json(d, where if len(docs) == 1 else f"{where}[{i}]") for i, d in enumerate(docs)
    ]


def _json_documents(text: str, p: Path) -> list[Any]:
    decoder = json.JSONDecoder()
    docs: list[Any] = []
    pos = 0
    while (pos := len(text) - len(text[pos:].lstrip())) < len(text):
        if text.startswith("---", pos):  # pachctl reads JSON with its YAML decoder: '---' splits
            pos += 3
            continue
        try:
            doc, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            raise InvalidSpec(f"pipeline spec {p} is not valid JSON: {e}") from e
        docs.append(doc)
    return docs


def _yaml_documents(text: str, p: Path) -> list[Any]:
    try:
        return [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as e:
        raise InvalidSpec(f"pipeline spec {p} is not valid YAML: {e}") from e


def spec_from_json(raw: Any, where: str = "spec") -> PipelineSpec:
    """A ``PipelineSpec`` from a parsed Pachyderm spec, under either key spelling."""
    try:
        raw = normalise(raw)
    except InvalidSpec as e:
        raise InvalidSpec(f"{where}: {e}") from e
    notes = _check_constructs(raw, where)
    name = _pipeline_name(raw, where)
    if "input" not in raw:
        raise InvalidSpec(
            f"{where}: field 'input' is required (one of pfs, cross, union, join, group, cron)"
        )
    transform = raw.get("transform")
    if not isinstance(transform, dict) or not transform.get("cmd"):
        got = f", got {transform!r}" if "transform" in raw else ""
        raise InvalidSpec(f"{where}: field 'transform.cmd' is required (a list of strings){got}")
    cmd = transform["cmd"]
    if not isinstance(cmd, list) or not all(isinstance(c, str) for c in cmd):
        raise InvalidSpec(f"{where}: field 'transform.cmd' must be a list of strings, got {cmd!r}")
    env = transform.get("env") or {}
    if not isinstance(env, dict):
        raise InvalidSpec(
            f"{where}: field 'transform.env' must be an object of strings, got {env!r}"
        )
    working_dir = transform.get("working_dir") or None
    if working_dir is not None and not isinstance(working_dir, str):
        raise InvalidSpec(
            f"{where}: field 'transform.working_dir' must be a path string, got {working_dir!r}"
        )
    kwargs: dict[str, Any] = {}
    if raw.get("egress") is not None:
        kwargs["egress"] = _egress_url(raw["egress"], where)
    for key in ("datum_timeout", "job_timeout"):
        if raw.get(key) is not None:
            kwargs[key] = parse_duration(raw[key], f"{where}: field '{key}'")
    if raw.get("datum_tries") is not None:
        kwargs["datum_tries"] = _int(raw["datum_tries"], f"{where}: field 'datum_tries'")
    if raw.get("parallelism_spec") is not None:
        ps = raw["parallelism_spec"]
        value = ps.get("constant", 1) if isinstance(ps, dict) else ps
        kwargs["parallelism"] = max(_int(value, f"{where}: field 'parallelism_spec'"), 1)
    return PipelineSpec(
        name=name,
        input=input_from_spec(_without_projects(raw["input"], "input", where)),
        cmd=tuple(cmd),
        stdin=tuple(transform.get("stdin") or ()),
        env={str(k): str(v) for k, v in env.items()},
        image=transform.get("image") or None,
        err_cmd=tuple(transform.get("err_cmd") or ()),
        accept_return_code=tuple(int(c) for c in transform.get("accept_return_code") or ()),
        output_branch=raw.get("output_branch") or "master",
        description=raw.get("description") or "",
        salt=str(raw.get("salt") or ""),
        reprocess_spec=raw.get("reprocess_spec") or "until_success",
        working_dir=working_dir,
        migration_notes=notes,
        **kwargs,
    )


def _set(value: Any) -> bool:
    """protojson's presence: a zero value (``false``, ``""``, ``[]``, ``{}``) is as if absent."""
    return value not in (None, False, "", [], {}, 0)


def _check_constructs(raw: dict[str, Any], where: str) -> tuple[str, ...]:
    """Refuse what would change results; a note for each scheduling knob that is ignored."""
    flat: dict[str, Any] = dict(raw)
    for key, value in (raw.get("transform") or {}).items():
        flat[f"transform.{key}"] = value
    for pfs in _pfs_inputs(raw.get("input")):
        if _set(pfs.get("s3")):
            flat["input.pfs.s3"] = True
    for key, why in _REFUSED.items():
        value = flat.get(key)
        if _set(value) or (key in _PRESENCE and value is not None):
            raise InvalidSpec(f"{where}: field '{key}': {why}")
    return tuple(
        f"{key}: ignored (no effect outside Kubernetes)"
        for key in sorted(_IGNORED)
        if _set(flat.get(key))
    )


def _pfs_inputs(inp: Any) -> list[dict[str, Any]]:
    if not isinstance(inp, dict):
        return []
    found = [inp["pfs"]] if isinstance(inp.get("pfs"), dict) else []
    for key in ("cross", "union", "join", "group"):
        for child in inp.get(key) or ():
            found += _pfs_inputs(child)
    return found


def _pipeline_name(raw: dict[str, Any], where: str) -> str:
    pipeline = raw.get("pipeline")
    name = pipeline.get("name") if isinstance(pipeline, dict) else None
    if not name:
        got = f", got {pipeline!r}" if "pipeline" in raw else ""
        raise InvalidSpec(
            f"{where}: field 'pipeline.name' is required, as in "
            f'{{"pipeline": {{"name": "my-pipeline"}}}}{got}'
        )
    project = (pipeline.get("project") or {}).get("name") if pipeline else None
    _check_project(project, "pipeline.project.name", where)
    return str(name)


def _check_project(project: Any, field_path: str, where: str) -> None:
    """Only Pachyderm's ``default`` project: one store is one project. Mapping another project
    onto repo names (``staging_images``) could collide with a real repo of that name, and
    dropping it would merge ``staging/images`` into ``default/images`` — both give wrong data."""
    if project not in (None, "", "default"):
        raise InvalidSpec(
            f"{where}: field '{field_path}' is {project!r}: only the 'default' project is "
            "supported (one store holds one project); use a separate store root for each "
            "project and drop the field"
        )


def _without_projects(inp: Any, path: str, where: str) -> Any:
    """``inp`` with ``project`` (checked to be the default one) removed from pfs/cron inputs."""
    if not isinstance(inp, dict):
        return inp
    out: dict[str, Any] = {}
    for key, value in inp.items():
        if key in ("pfs", "cron") and isinstance(value, dict):
            _check_project(value.get("project"), f"{path}.{key}.project", where)
            out[key] = {k: v for k, v in value.items() if k != "project"}
        elif key in ("cross", "union", "join", "group") and isinstance(value, list):
            out[key] = [
                _without_projects(c, f"{path}.{key}[{i}]", where) for i, c in enumerate(value)
            ]
        else:
            out[key] = value
    return out


def _egress_url(egress: Any, where: str) -> str:
    if not isinstance(egress, dict):
        egress = {"URL": egress} if isinstance(egress, str) else {"URL": None, "value": egress}
    if egress.get("sql_database") is not None:
        raise InvalidSpec(f"{where}: field 'egress.sql_database': SQL egress is not supported")
    storage = egress.get("object_storage") or {}
    url = egress.get("URL") or (storage.get("url") if isinstance(storage, dict) else None)
    extra = sorted(set(egress) - {"URL", "object_storage"})
    if url and extra:
        raise InvalidSpec(
            f"{where}: unknown field 'egress.{extra[0]}'; known fields of 'egress': "
            "URL, object_storage (each also in lowerCamelCase)"
        )
    if not url:
        raise InvalidSpec(
            f"{where}: field 'egress' needs a 'URL', as in "
            f'{{"egress": {{"URL": "s3://bucket/dir"}}}}, got {egress!r}'
        )
    return str(url)


def _int(value: Any, where: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as e:
        raise InvalidSpec(f"{where}: expected a whole number, got {value!r}") from e
