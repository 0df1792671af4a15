"""What to use instead of a pachctl command dvctl does not have: one line each.

A pachctl user types what they know; "No such command" would leave them guessing whether the
feature is missing or lives elsewhere. Keys are the command words as typed (``create
pipeline``, ``mount``); ``hint_for`` is asked by the root and verb groups before click's own
"no such command" error.
"""

from __future__ import annotations

_DEFINE = (
    "pipelines are defined in code: @pipeline or pipeline_from_spec(...) in definitions.py, "
    "or a folder of Pachyderm spec files with a defs.yaml of type "
    "dagster_versioned.PipelineSpecsComponent (docs/components.md); reloading the code "
    "location picks up the change"
)

HINTS: dict[str, str] = {
    "create pipeline": _DEFINE,
    "update pipeline": _DEFINE,
    "edit pipeline": _DEFINE,
    "delete pipeline": "remove the pipeline from definitions.py; its output repo and job "
    "records stay in the store (dvctl delete repo <pipeline> removes the output)",
    "start pipeline": "turn the pipeline's branch sensor on in the Dagster UI (Automation), "
    "or `dagster sensor start dv_<repo>_<branch>`",
    "stop pipeline": "turn the pipeline's branch sensor off in the Dagster UI (Automation), "
    "or `dagster sensor stop dv_<repo>_<branch>`",
    "mount": "read files with the dv:// fsspec filesystem (fsspec.open('dv://repo@branch/path')) "
    "or copy them out with `dvctl get file -r`",
    "unmount": "there is no mount: see `dvctl get file -r` and the dv:// filesystem",
    "port-forward": "there is no server to forward to: dvctl reads the store directly "
    "(`dvctl config` shows which)",
    "auth": "access is the storage's own (file permissions, S3 IAM); dvctl has no users",
    "enterprise": "there is no enterprise server: everything runs on the storage and Dagster",
    "license": "there is no license server",
    "idp": "there is no identity provider: access is the storage's own",
    "debug": "use `dvctl fsck` to check the store and the Dagster UI for run logs",
    "deploy": "nothing to deploy: a store is a path or bucket; run Dagster for the pipelines",
    "undeploy": "nothing to undeploy: a store is a path or bucket",
    "logs": "job logs are Dagster run logs: open the run in the Dagster UI "
    "(`dvctl inspect job P@ID` shows its dagster run id)",
    "extract": "copy the store's directory or bucket; it is plain files",
    "restore": "copy a saved store directory or bucket back; it is plain files",
    "shell": "dvctl has no shell: run dvctl commands directly (`dvctl completion bash` "
    "adds tab completion)",
    "draw": "the Dagster UI draws the pipeline graph (its asset lineage)",
    "context": "there are no contexts: pass --storage or set $DAGSTER_VERSIONED_STORAGE "
    "(`dvctl config` shows the store in use)",
    "list project": "there are no projects: one store is one project",
    "create project": "there are no projects: use another store (--storage)",
    "create secret": "pass secrets to pipelines through Dagster resources or the environment",
    "squash commit": "not supported: commits are immutable; `dvctl gc` reclaims unreferenced "
    "objects",
}


def hint_for(words: str) -> str | None:
    """The line for ``words`` (``create pipeline``), or ``None`` when there is none."""
    return HINTS.get(words)
