"""A pipeline's definition, independent of Dagster: inputs, transform, and Pachyderm's knobs.

``PipelineSpec`` is what ``@pipeline`` and ``pipeline_from_spec`` both produce; the runner needs
nothing else. ``load_spec_file`` reads a Pachyderm pipeline-spec JSON file unchanged — the
migration path — and refuses unknown or malformed fields by name rather than ignoring them.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dagster_versioned.errors import InvalidSpec
from dagster_versioned.pps.inputs import Input, input_from_spec, validate_names
from dagster_versioned.store.names import validate_branch_name, validate_repo_name

Transform = Callable[..., Any]

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)$")
_K8S_ONLY = {
    "resource_requests",
    "resource_limits",
    "sidecar_resource_limits",
    "sidecar_resource_requests",
    "scheduling_spec",
    "pod_spec",
    "pod_patch",
    "autoscaling",
    "service",
    "spout",
    "s3_out",
    "tolerations",
    "metadata",
    "tf_job",
    "datum_set_spec",
    "spec_commit",
    "standby",
    "cache_size",
    "max_queue_size",
    "enable_stats",
}
_KNOWN = {
    "pipeline",
    "description",
    "input",
    "transform",
    "output_branch",
    "egress",
    "parallelism_spec",
    "datum_tries",
    "job_timeout",
    "datum_timeout",
    "salt",
    "reprocess_spec",
} | _K8S_ONLY
_TRANSFORM_KNOWN = {
    "image",
    "cmd",
    "stdin",
    "env",
    "err_cmd",
    "err_stdin",
    "accept_return_code",
    "working_dir",
    "user",
    "secrets",
    "image_pull_secrets",
    "debug",
    "build",
    "memory_volume",
    "dockerfile",
}
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
            text = json.dumps([self.cmd, self.stdin, sorted(self.env.items()), self.image])
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def transform_json(self) -> dict[str, Any]:
        if self.fn is not None:
            return {"python": f"{self.fn.__module__}.{self.fn.__qualname__}"}
        raw: dict[str, Any] = {"cmd": list(self.cmd)}
        if self.image:
            raw["image"] = self.image
        for key, value in (("stdin", list(self.stdin)), ("env", self.env)):
            if value:
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
        if self.datum_timeout:
            raw["datum_timeout"] = f"{self.datum_timeout:g}s"
        if self.job_timeout:
            raw["job_timeout"] = f"{self.job_timeout:g}s"
        return raw


def parse_duration(value: Any, where: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    m = _DURATION.match(str(value).strip())
    if not m:
        raise InvalidSpec(f"{where}: invalid duration {value!r}; use a string like '120s' or '5m'")
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[m.group(2)]
    return float(m.group(1)) * scale


def load_spec_file(path: str | Path) -> PipelineSpec:
    """Read a Pachyderm pipeline-spec JSON file into a ``PipelineSpec``."""
    p = Path(path)
    try:
        raw = json.loads(p.read_text())
    except OSError as e:
        raise InvalidSpec(f"cannot read pipeline spec {p}: {e.strerror or e}") from e
    except json.JSONDecodeError as e:
        raise InvalidSpec(f"pipeline spec {p} is not valid JSON: {e}") from e
    return spec_from_json(raw, str(p))


def spec_from_json(raw: Any, where: str = "spec") -> PipelineSpec:
    if not isinstance(raw, dict):
        raise InvalidSpec(f"{where}: expected a JSON object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - _KNOWN)
    if unknown:
        raise InvalidSpec(
            f"{where}: unknown field '{unknown[0]}'; known fields: {', '.join(sorted(_KNOWN))}"
        )
    name = (
        (raw.get("pipeline") or {}).get("name") if isinstance(raw.get("pipeline"), dict) else None
    )
    if not name:
        got = f", got {raw['pipeline']!r}" if "pipeline" in raw else ""
        raise InvalidSpec(
            f"{where}: field 'pipeline.name' is required, as in "
            f'{{"pipeline": {{"name": "my-pipeline"}}}}{got}'
        )
    if "input" not in raw:
        raise InvalidSpec(
            f"{where}: field 'input' is required (one of pfs, cross, union, join, group)"
        )
    transform = raw.get("transform")
    if not isinstance(transform, dict) or not transform.get("cmd"):
        got = f", got {transform!r}" if "transform" in raw else ""
        raise InvalidSpec(f"{where}: field 'transform.cmd' is required (a list of strings){got}")
    bad = sorted(set(transform) - _TRANSFORM_KNOWN)
    if bad:
        raise InvalidSpec(
            f"{where}: unknown field 'transform.{bad[0]}'; known fields of 'transform': "
            f"{', '.join(sorted(_TRANSFORM_KNOWN))}"
        )
    cmd = transform["cmd"]
    if not isinstance(cmd, list) or not all(isinstance(c, str) for c in cmd):
        raise InvalidSpec(f"{where}: field 'transform.cmd' must be a list of strings, got {cmd!r}")
    env = transform.get("env") or {}
    if not isinstance(env, dict):
        raise InvalidSpec(
            f"{where}: field 'transform.env' must be an object of strings, got {env!r}"
        )
    kwargs: dict[str, Any] = {}
    if "egress" in raw:
        egress = raw["egress"]
        url = egress.get("URL") or egress.get("url") if isinstance(egress, dict) else None
        if not url:
            raise InvalidSpec(
                f"{where}: field 'egress' needs a 'URL', as in "
                f'{{"egress": {{"URL": "s3://bucket/dir"}}}}, got {egress!r}'
            )
        kwargs["egress"] = url
    for key in ("datum_timeout", "job_timeout"):
        if key in raw:
            kwargs[key] = parse_duration(raw[key], f"{where}: field '{key}'")
    if "datum_tries" in raw:
        kwargs["datum_tries"] = _int(raw["datum_tries"], f"{where}: field 'datum_tries'")
    if "parallelism_spec" in raw:
        ps = raw["parallelism_spec"]
        value = ps.get("constant", 1) if isinstance(ps, dict) else ps
        kwargs["parallelism"] = max(_int(value, f"{where}: field 'parallelism_spec'"), 1)
    return PipelineSpec(
        name=name,
        input=input_from_spec(raw["input"]),
        cmd=tuple(cmd),
        stdin=tuple(transform.get("stdin") or ()),
        env={str(k): str(v) for k, v in env.items()},
        image=transform.get("image"),
        err_cmd=tuple(transform.get("err_cmd") or ()),
        accept_return_code=tuple(int(c) for c in transform.get("accept_return_code") or ()),
        output_branch=raw.get("output_branch", "master"),
        description=raw.get("description", ""),
        salt=str(raw.get("salt", "")),
        reprocess_spec=raw.get("reprocess_spec", "until_success"),
        **kwargs,
    )


def _int(value: Any, where: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as e:
        raise InvalidSpec(f"{where}: expected a whole number, got {value!r}") from e
