"""PipelineSpecsComponent: a folder of Pachyderm spec files loaded by Dagster's component tree.

These load the component as ``dg`` does (``create_defs_folder_sandbox`` builds a project's
``defs`` folder and its component tree in process); test_dg_project.py runs the real ``dg``.
"""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest
from dagster.components.testing import create_defs_folder_sandbox

from dagster_versioned import PipelineSpecsComponent
from dagster_versioned.store import Store

EXAMPLE = Path(__file__).parents[2] / "examples" / "dg_project" / "src" / "dv_dg_project"
SPECS = EXAMPLE / "defs" / "pipelines"


def write_component(folder: Path, attributes: dict, specs: dict[str, dict | str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "defs.yaml").write_text(
        json.dumps({"type": "dagster_versioned.PipelineSpecsComponent", "attributes": attributes})
    )
    for name, spec in specs.items():
        (folder / name).write_text(spec if isinstance(spec, str) else json.dumps(spec))
    return folder


def example_specs() -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in SPECS.glob("*.json")}


def run_head_move(defs: dg.Definitions, sensor: str, instance: dg.DagsterInstance) -> None:
    """What the daemon does: tick the branch sensor, run what it asks for."""
    context = dg.build_sensor_context(instance=instance, definitions=defs)
    sensor_def = defs.get_sensor_def(sensor)
    (request,) = sensor_def(context).run_requests
    selection = sensor_def.asset_selection.resolve(defs.resolve_asset_graph())
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        instance=instance, tags=request.tags, asset_selection=sorted(selection)
    )
    assert result.success


def test_each_spec_file_becomes_a_pipeline_asset_and_specs_may_depend_on_each_other(tmp_path):
    storage = tmp_path / "store"
    Store.open(str(storage)).create_repo("images")
    with create_defs_folder_sandbox() as sandbox:
        folder = write_component(
            sandbox.defs_folder_path / "pipelines", {"storage": str(storage)}, example_specs()
        )
        with sandbox.load_component_and_build_defs(defs_path=folder) as (component, defs):
            assert isinstance(component, PipelineSpecsComponent)
            graph = defs.resolve_asset_graph()
            assert {k.to_user_string() for k in graph.get_all_asset_keys()} == {
                "images", "edges", "montage",
            }  # fmt: skip
            montage = graph.get(dg.AssetKey("montage"))
            assert montage.parent_keys == {dg.AssetKey("edges"), dg.AssetKey("images")}
            assert {c.to_user_string() for c in graph.asset_check_keys} >= {
                "images:fsck", "edges:datums_succeeded", "montage:datums_succeeded",
            }  # fmt: skip
            assert defs.get_sensor_def("dv_images_master").asset_selection is not None


def test_the_example_project_runs_images_to_edges_to_montage_in_one_run(tmp_path):
    storage = str(tmp_path / "store")
    store = Store.open(storage)
    store.create_repo("images")
    store.put_file("images@master:/a.png", b"AAA")
    with create_defs_folder_sandbox() as sandbox:
        folder = write_component(
            sandbox.defs_folder_path / "pipelines", {"storage": storage}, example_specs()
        )
        with (
            sandbox.load_component_and_build_defs(defs_path=folder) as (_, defs),
            dg.instance_for_test() as instance,
        ):
            run_head_move(defs, "dv_images_master", instance)
    montage = store.get_file("montage@master:/montage.txt").decode()
    assert montage.startswith("a.png ")


def test_the_scaffolded_component_loads_and_runs_once_its_input_repo_has_a_commit(tmp_path):
    storage = str(tmp_path / "store")
    store = Store.open(storage)
    store.create_repo("raw")
    store.put_file("raw@master:/hello.txt", b"hello")
    with create_defs_folder_sandbox() as sandbox:
        folder = sandbox.scaffold_component(PipelineSpecsComponent, defs_path="copied")
        assert sorted(p.name for p in folder.iterdir()) == ["copy.json", "defs.yaml"]
        defs_yaml = (folder / "defs.yaml").read_text()
        (folder / "defs.yaml").write_text(
            defs_yaml.replace("# storage: s3://bucket/dv", f"storage: {storage}")
        )
        with (
            sandbox.load_component_and_build_defs(defs_path=folder) as (_, defs),
            dg.instance_for_test() as instance,
        ):
            run_head_move(defs, "dv_raw_master", instance)
    assert store.get_file("copy@master:/hello.txt") == b"hello"


@pytest.mark.parametrize(
    ("attributes", "specs", "message"),
    [
        ({"specs": "*.yml"}, {"a.json": example_specs()["edges.json"]},
         "field 'specs' matches no file: '*.yml'"),
        ({}, {"edges.json": {"pipeline": {"name": "edges"}, "input": {"pfs": {"repo": "i"}}}},
         "edges.json: field 'transform.cmd' is required"),
        ({}, {"broken.json": "{not json"}, "broken.json is not valid JSON"),
    ],
    ids=["glob-matches-nothing", "spec-missing-a-field", "spec-not-json"],
)  # fmt: skip
def test_a_bad_glob_or_spec_fails_at_load_naming_the_file_and_the_field(
    tmp_path, attributes, specs, message
):
    with create_defs_folder_sandbox() as sandbox:
        folder = write_component(
            sandbox.defs_folder_path / "pipelines",
            {"storage": str(tmp_path / "store"), **attributes},
            specs,
        )
        with (
            pytest.raises(Exception, match=r"(?s).*") as raised,
            sandbox.load_component_and_build_defs(defs_path=folder),
        ):
            pass
    chain = []
    error: BaseException | None = raised.value
    while error is not None:
        chain.append(error)
        error = error.__cause__
    (ours,) = [e for e in chain if type(e).__module__ == "dagster_versioned.errors"]
    assert message in str(ours)
    assert str(folder) in str(ours)
    ours_frames, tb = [], ours.__traceback__
    while tb is not None:
        if "dagster_versioned" in tb.tb_frame.f_code.co_filename:
            ours_frames.append(tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    assert ours_frames == ["build_defs"]  # only where the component re-raised it


def test_an_unknown_attribute_is_refused_by_the_schema():
    with pytest.raises(Exception, match="bogus"):
        PipelineSpecsComponent.from_attributes_dict(attributes={"bogus": 1})


def test_dg_lists_the_component_from_the_package_entry_point():
    import importlib.metadata

    from dagster.components.core.package_entry import get_package_objects_in_module

    import dagster_versioned

    (entry,) = [
        e for e in importlib.metadata.entry_points(group="dagster_dg_cli.registry_modules")
        if e.value == "dagster_versioned"
    ]  # fmt: skip
    assert entry.name == "dagster_versioned"
    found = dict(get_package_objects_in_module(dagster_versioned))
    assert found == {"PipelineSpecsComponent": PipelineSpecsComponent}


def test_loading_the_example_as_dagster_dev_does_warns_nothing_of_ours(tmp_path):
    """No deprecated Dagster API (``SourceAsset``) and no warning raised from our modules."""
    import warnings

    Store.open(str(tmp_path / "store")).create_repo("images")
    with create_defs_folder_sandbox() as sandbox:
        write_component(
            sandbox.defs_folder_path / "pipelines", {"storage": str(tmp_path / "store")},
            example_specs(),
        )  # fmt: skip
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with sandbox.build_all_defs() as defs:
                defs.get_repository_def().asset_graph  # noqa: B018  (what the UI loads)
    deprecations = [
        w for w in caught
        if issubclass(w.category, DeprecationWarning)
        and not w.filename.endswith("dagster/_utils/pydantic_yaml.py")  # Dagster's own pydantic use
    ]  # fmt: skip
    ours = [w for w in caught if "dagster_versioned" in w.filename]
    assert [f"{w.filename}: {w.message}" for w in deprecations] == []
    assert [f"{w.filename}: {w.message}" for w in ours] == []


def test_specs_may_be_yaml_in_pachctl_camel_case(tmp_path):
    yaml_spec = (
        "pipeline:\n  name: edges\n"
        "input:\n  pfs:\n    repo: images\n    glob: /*\n"
        "transform:\n  cmd: [sh, -c, 'cp /pfs/images/* /pfs/out/']\n"
        "datumTries: 2\n"
    )
    with create_defs_folder_sandbox() as sandbox:
        folder = write_component(
            sandbox.defs_folder_path / "pipelines",
            {"specs": "*.yaml", "storage": str(tmp_path / "store")},
            {"edges.yaml": yaml_spec},
        )
        with sandbox.load_component_and_build_defs(defs_path=folder) as (_, defs):
            keys = defs.resolve_asset_graph().get_all_asset_keys()
    assert {k.to_user_string() for k in keys} == {"images", "edges"}


def test_storage_left_out_is_chosen_from_the_project_root_as_dvctl_would(monkeypatch):
    monkeypatch.delenv("DAGSTER_VERSIONED_STORAGE", raising=False)
    with create_defs_folder_sandbox() as sandbox:
        folder = write_component(sandbox.defs_folder_path / "pipelines", {}, example_specs())
        with sandbox.load_component_and_build_defs(defs_path=folder) as (_, defs):
            resource = defs.resources["versioned_store"]
            assert resource.storage == str(sandbox.project_root / ".dagster_versioned")
        # loading prepared the pipelines' output repos there, as `create pipeline` does
        store = Store.open(str(sandbox.project_root / ".dagster_versioned"))
        assert {"edges", "montage"} <= {r.name for r in store.list_repo()}


def test_a_second_component_folder_in_one_code_location_is_refused_naming_both(tmp_path):
    storage = tmp_path / "store"
    Store.open(str(storage)).create_repo("images")
    specs = example_specs()
    edges = {k: v for k, v in specs.items() if "edges" in k}
    montage = {k: v for k, v in specs.items() if "montage" in k}
    with create_defs_folder_sandbox() as sandbox:
        write_component(sandbox.defs_folder_path / "a", {"storage": str(storage)}, edges)
        write_component(sandbox.defs_folder_path / "b", {"storage": str(storage)}, montage)
        # Dagster wraps the error in its tree of the two folders; ours is the cause.
        with pytest.raises(Exception, match="b") as e, sandbox.build_all_defs():
            pass
    cause = e.value
    while cause.__cause__ is not None:
        cause = cause.__cause__
    message = str(cause)
    assert "a second dagster_versioned.PipelineSpecsComponent" in message
    assert "a/defs.yaml" in message
    assert "b/defs.yaml" in message


def test_one_component_reaches_specs_in_sub_folders_with_a_double_star_glob(tmp_path):
    storage = tmp_path / "store"
    Store.open(str(storage)).create_repo("images")
    specs = example_specs()
    with create_defs_folder_sandbox() as sandbox:
        folder = sandbox.defs_folder_path / "pipelines"
        for i, (name, spec) in enumerate(sorted(specs.items())):
            write_component(folder / f"team{i}", {}, {name: spec})
            (folder / f"team{i}" / "defs.yaml").unlink()  # plain folders of specs
        write_component(folder, {"storage": str(storage), "specs": "**/*.json"}, {})
        with sandbox.load_component_and_build_defs(defs_path=folder) as (_, defs):
            keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert keys == {"images", "edges", "montage"}
