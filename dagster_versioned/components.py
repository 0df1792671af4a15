"""``PipelineSpecsComponent``: a folder of Pachyderm pipeline specs as a Dagster component.

The migration path from Pachyderm is a folder of the spec files a team already has; the
component turns each into a pipeline asset with the sensors, input assets and health checks
``versioned_definitions`` makes, from a ``defs.yaml`` of two lines, as
``dagster_sling.SlingReplicationCollectionComponent`` does for replication files::

    type: dagster_versioned.PipelineSpecsComponent
    attributes:
      specs: "*.json"        # relative to this folder
      storage: s3://bucket/dv  # optional: as dvctl chooses when left out

Errors are raised at load (``dg list defs``, ``dg check defs``) as one ``InvalidSpec`` naming the
file and the field, so a broken spec never becomes a half-built code location.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import dagster as dg
from pydantic import Field

from dagster_versioned.errors import InvalidSpec, VersionedError
from dagster_versioned.store.location import default_storage_url

_FOLDERS: dict[Path, Path] = {}
"""Project root → the folder whose component built its pipelines (see ``claim_project``)."""

EXAMPLE_INPUT_REPO = "raw"
"""The input repo of the scaffolded example spec (created by hand: ``dvctl create repo raw``)."""


class PipelineSpecsScaffolder(dg.Scaffolder):  # type: ignore[misc]
    """``dg scaffold defs dagster_versioned.PipelineSpecsComponent <name>``: a defs.yaml and one
    spec that runs as it is once its input repo has a commit."""

    def scaffold(self, request: dg.ScaffoldRequest) -> None:
        folder = Path(request.target_path)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "defs.yaml").write_text(
            textwrap.dedent(
                f"""\
                type: {request.type_name}
                attributes:
                  # Pachyderm pipeline specs (JSON or YAML), relative to this folder.
                  specs: "*.json"
                  # Store root (path, s3:// or file:// URL). Left out: $DAGSTER_VERSIONED_STORAGE,
                  # else the nearest .dagster_versioned/ from the project root up, as dvctl does.
                  # storage: s3://bucket/dv
                """
            )
        )
        (folder / "copy.json").write_text(json.dumps(example_spec(), indent=2) + "\n")


def example_spec() -> dict[str, object]:
    """A Pachyderm spec that copies every file of ``raw`` (one datum per file) with ``cp``."""
    return {
        "pipeline": {"name": "copy"},
        "description": f"Copies every file of '{EXAMPLE_INPUT_REPO}', one datum per file.",
        "input": {"pfs": {"repo": EXAMPLE_INPUT_REPO, "glob": "/*"}},
        "transform": {"cmd": ["sh", "-c", f"cp -r /pfs/{EXAMPLE_INPUT_REPO}/* /pfs/out/"]},
    }


@dg.scaffold_with(PipelineSpecsScaffolder)
class PipelineSpecsComponent(dg.Component, dg.Resolvable, dg.Model):  # type: ignore[misc]
    """Pachyderm pipeline-spec files (JSON or YAML) in a defs folder, one pipeline asset each.

    Specs in one folder may read each other's output repos: their jobs then run in one Dagster
    run per input commit, as ``versioned_definitions`` builds them.
    """

    specs: str = Field(
        default="*.json",
        description="Glob of pipeline-spec files, relative to the folder of this defs.yaml.",
    )
    storage: str | None = Field(
        default=None,
        description=(
            "Store root: a path (relative to this folder), file://, s3:// or memory:// URL. "
            "Left out: $DAGSTER_VERSIONED_STORAGE, else the nearest .dagster_versioned/ "
            "directory from the project root, else a new one there (as dvctl chooses)."
        ),
    )
    group_name: str | None = Field(
        default=None, description="Asset group of the pipelines; default: Dagster's 'default'."
    )
    sensor_interval: int = Field(
        default=15, ge=1, description="Seconds between ticks of the head-move sensors."
    )

    def spec_files(self, folder: Path) -> list[Path]:
        """The files ``specs`` matches, sorted; none is an error (a typo, not an empty DAG)."""
        if Path(self.specs).is_absolute():
            raise InvalidSpec(
                f"{folder / 'defs.yaml'}: field 'specs' must be a glob relative to the folder "
                f"of defs.yaml, got the absolute path {self.specs!r}"
            )
        files = sorted(  # "*.yaml" would match the component's own defs.yaml
            p for p in folder.glob(self.specs) if p.is_file() and p.name != "defs.yaml"
        )
        if not files:
            raise InvalidSpec(
                f"{folder / 'defs.yaml'}: field 'specs' matches no file: {self.specs!r} in "
                f"{folder}; give a glob such as '*.json' or '*.yaml'"
            )
        return files

    def storage_url(self, context: dg.ComponentLoadContext) -> str:
        if not self.storage:
            return default_storage_url(context.project_root)
        if "://" in self.storage or Path(self.storage).is_absolute():
            return self.storage
        return str((context.path / self.storage).resolve())

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        from dagster_versioned.pipelines.assets import pipeline_from_spec
        from dagster_versioned.pipelines.definitions import versioned_definitions

        claim_project(context.project_root, context.path)
        try:
            pipelines = [
                pipeline_from_spec(path, group_name=self.group_name)
                for path in self.spec_files(context.path)
            ]
        except VersionedError as e:
            # The message names the file and the field; the frames of the spec parser would
            # only bury it (Dagster hides its own frames, and ours once installed from a wheel).
            raise e.with_traceback(None) from None
        return versioned_definitions(
            pipelines,
            storage=self.storage_url(context),
            group_name=self.group_name,
            sensor_interval=self.sensor_interval,
        )


def claim_project(project_root: Path, folder: Path) -> None:
    """One folder of specs per code location.

    A code location's pipelines share one set of sensors and one store resource, and one commit
    starts one run across every pipeline that reads it (one global job, as in Pachyderm): two
    components would each build their own and Dagster would refuse to merge them with an error
    that names neither folder. Specs in sub-folders of one component are reached with a ``**``
    glob instead.
    """
    root, here = project_root.resolve(), folder.resolve()
    first = _FOLDERS.setdefault(root, here)
    if first != here:
        raise InvalidSpec(
            f"{here / 'defs.yaml'}: a second dagster_versioned.PipelineSpecsComponent in this "
            f"code location (the first is {first / 'defs.yaml'}); keep one per code location "
            "and reach specs in several folders with a glob such as 'specs: \"**/*.json\"'"
        )
