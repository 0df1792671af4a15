"""The field schema of Pachyderm 2.x's ``CreatePipelineRequest``, and the one key normaliser.

Pachyderm reads pipeline specs with protojson, which accepts each field under its proto name
(``join_on``) and its lowerCamelCase JSON name (``joinOn``). Real specs mix both, so every level is
normalised here, once, to proto names; everything downstream (``spec.py``, ``inputs.py``) sees
snake_case only. The schema lists every field of the messages a spec can contain, so an unknown
field is refused by name and path, never dropped, and ``docs/migrating.md`` is checked against it.

Why not pydantic (installed with Dagster): models with ``alias_generator=to_camel``,
``populate_by_name`` and ``extra="forbid"`` come close (checked with pydantic 2.14), but
(1) a field given under both spellings is reported as "Extra inputs are not permitted" on one
of them, hiding that it is one field spelled twice; (2) an unknown field gets the same words at
a location tuple, never the fields valid there, which is what a user migrating needs;
(3) protojson's rules (int64 as a string, an empty message counting as set, ``URL`` keeping
its JSON name) would each need a validator anyway; and (4) the field table in
docs/migrating.md is checked against ``MESSAGES``, a plain dict a test can read. So the schema
is this table and the normaliser below; value checks stay beside the code that reads them.
"""

from __future__ import annotations

from typing import Any

from dagster_versioned.errors import InvalidSpec

__all__ = ["HIDDEN", "MESSAGES", "ROOT", "json_name", "normalise"]

ROOT = "CreatePipelineRequest"

_OPAQUE = ""
"""A field whose value is kept as given: scalars, maps (``env``), or Kubernetes-only messages
whose keys we never interpret."""

MESSAGES: dict[str, dict[str, str]] = {
    ROOT: {
        "pipeline": "Pipeline",
        "tf_job": _OPAQUE,
        "transform": "Transform",
        "parallelism_spec": "ParallelismSpec",
        "egress": "Egress",
        "update": _OPAQUE,
        "output_branch": _OPAQUE,
        "s3_out": _OPAQUE,
        "resource_requests": _OPAQUE,
        "resource_limits": _OPAQUE,
        "sidecar_resource_limits": _OPAQUE,
        "input": "Input",
        "description": _OPAQUE,
        "reprocess": _OPAQUE,
        "service": _OPAQUE,
        "spout": _OPAQUE,
        "datum_set_spec": _OPAQUE,
        "datum_timeout": _OPAQUE,
        "job_timeout": _OPAQUE,
        "salt": _OPAQUE,
        "datum_tries": _OPAQUE,
        "scheduling_spec": _OPAQUE,
        "pod_spec": _OPAQUE,
        "pod_patch": _OPAQUE,
        "spec_commit": _OPAQUE,
        "metadata": _OPAQUE,
        "reprocess_spec": _OPAQUE,
        "autoscaling": _OPAQUE,
        "tolerations": _OPAQUE,
        "sidecar_resource_requests": _OPAQUE,
        "dry_run": _OPAQUE,
        "determined": _OPAQUE,
        # Pachyderm 1.x fields that specs still carry; accepted and ignored, as they always were.
        "cache_size": _OPAQUE,
        "max_queue_size": _OPAQUE,
        "enable_stats": _OPAQUE,
        "standby": _OPAQUE,
    },
    "Pipeline": {"project": "Project", "name": _OPAQUE},
    "Project": {"name": _OPAQUE},
    "Transform": {
        "image": _OPAQUE,
        "cmd": _OPAQUE,
        "err_cmd": _OPAQUE,
        "env": _OPAQUE,
        "secrets": _OPAQUE,
        "image_pull_secrets": _OPAQUE,
        "stdin": _OPAQUE,
        "err_stdin": _OPAQUE,
        "accept_return_code": _OPAQUE,
        "debug": _OPAQUE,
        "user": _OPAQUE,
        "working_dir": _OPAQUE,
        "dockerfile": _OPAQUE,
        "memory_volume": _OPAQUE,
        "datum_batching": _OPAQUE,
        "build": _OPAQUE,  # Pachyderm 1.x; accepted and ignored, as it always was
    },
    "ParallelismSpec": {"constant": _OPAQUE},
    "Egress": {"URL": _OPAQUE, "object_storage": "URLEgress", "sql_database": _OPAQUE},
    "URLEgress": {"url": _OPAQUE},
    "Input": {
        "pfs": "PFSInput",
        "join": "Input[]",
        "group": "Input[]",
        "cross": "Input[]",
        "union": "Input[]",
        "cron": "CronInput",
    },
    "PFSInput": {
        "project": _OPAQUE,
        "name": _OPAQUE,
        "repo": _OPAQUE,
        "repo_type": _OPAQUE,
        "branch": _OPAQUE,
        "commit": _OPAQUE,
        "glob": _OPAQUE,
        "join_on": _OPAQUE,
        "outer_join": _OPAQUE,
        "group_by": _OPAQUE,
        "lazy": _OPAQUE,
        "empty_files": _OPAQUE,
        "s3": _OPAQUE,
        "trigger": "Trigger",
        "reference": _OPAQUE,  # ours, not Pachyderm's: see ``inputs.PfsInput.reference``
    },
    "CronInput": {
        "name": _OPAQUE,
        "project": _OPAQUE,
        "repo": _OPAQUE,
        "commit": _OPAQUE,
        "spec": _OPAQUE,
        "overwrite": _OPAQUE,
        "start": _OPAQUE,
    },
    "Trigger": {
        "branch": _OPAQUE,
        "all": _OPAQUE,
        "rate_limit_spec": _OPAQUE,
        "size": _OPAQUE,
        "commits": _OPAQUE,
        "cron_spec": _OPAQUE,
    },
}
"""message -> {proto field name: message type of its value, ``""`` if not normalised further;
a type ending in ``[]`` is a list of that message}. Taken from Pachyderm 2.x's ``pps.proto``
and ``pfs.proto`` (``Trigger``, ``Project``, ``ObjectStorageEgress``)."""


HIDDEN: dict[str, frozenset[str]] = {
    ROOT: frozenset({"tf_job", "spout", "service", "determined", "s3_out", "dry_run"}),
    "Transform": frozenset({"secrets", "datum_batching"}),
}
"""Fields that are always refused: known, so they get their own error, but not offered as
valid in an unknown-field error."""


_INPUT_MESSAGES = frozenset({"Input", "PFSInput", "CronInput", "Trigger"})
_LENIENT = frozenset({"Egress"})
"""Messages whose unknown keys are passed on: ``spec.py`` refuses them with the example of a
valid ``egress``."""


def json_name(proto_name: str) -> str:
    """protoc's default ``json_name``: lowerCamelCase (``join_on`` -> ``joinOn``; ``URL`` stays)."""
    head, *rest = proto_name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def normalise(raw: Any, message: str = ROOT, where: str = "") -> Any:
    """``raw`` with every key of ``message`` (and of the messages inside it) under its proto
    name. Raises ``InvalidSpec`` for an unknown key or a field given under both spellings; a
    value of the wrong shape is passed on as given, for its reader to refuse in its own words."""
    if message.endswith("[]"):
        if not isinstance(raw, list):
            return raw
        return [normalise(item, message[:-2], f"{where}[{i}]") for i, item in enumerate(raw)]
    if not isinstance(raw, dict):
        if not where:
            raise InvalidSpec(f"expected a JSON object, got {type(raw).__name__}")
        return raw
    fields = MESSAGES[message]
    by_key = {json_name(name): name for name in fields} | {name: name for name in fields}
    out: dict[str, Any] = {}
    seen: dict[str, str] = {}
    for key, value in raw.items():
        path = f"{where}.{key}" if where else str(key)
        name = by_key.get(key)
        if name is None and message == "Input" and key == "atom":
            raise InvalidSpec(
                f"field '{path}': Pachyderm 1.x 'atom' inputs are not supported; "
                "write it as a 2.x 'pfs' input (same fields)"
            )
        if name is None and message in _LENIENT:
            out[key] = value
            continue
        if name is None:
            listed = ", ".join(sorted(f for f in fields if f not in HIDDEN.get(message, ())))
            if not where:
                head = f"unknown field '{key}'; known fields: "
            elif message in _INPUT_MESSAGES:  # the wording inputs.py has always used
                head = f"{where}: unknown field '{key}'; known fields: "
            else:
                head = f"unknown field '{path}'; known fields of '{where}': "
            raise InvalidSpec(f"{head}{listed} (each also in lowerCamelCase)")
        if name in seen:
            at = f"{where}." if where else ""
            raise InvalidSpec(
                f"field '{at}{seen[name]}' and '{at}{key}' are the same field "
                f"'{name}' spelled twice; keep one"
            )
        seen[name] = key
        nested = fields[name]
        out[name] = value if nested == _OPAQUE else normalise(value, nested, path)
    return out
