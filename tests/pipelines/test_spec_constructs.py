"""Every construct Pachyderm's published 2.x examples use loads, in JSON and YAML, either spelling.

The spec texts are ours, written in the shapes those examples take (opencv edges/montage,
word_count, joins, group, shuffle, hyperparameter, tensorflow, cron/db query, spouts, kubeflow).
Each test loads the text from a file, as ``pachctl create pipeline -f`` would, and asserts the
values the loader produced; out-of-scope constructs get one error naming the construct.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dagster_versioned.errors import InvalidSpec
from dagster_versioned.pps.inputs import CronInput, cron_inputs
from dagster_versioned.pps.spec import PipelineSpec, load_spec_file, load_spec_files

EXAMPLES = Path(__file__).parent / "examples"


@pytest.fixture
def load(tmp_path: Path):
    def loader(text: str, suffix: str = ".json") -> PipelineSpec:
        path = tmp_path / f"spec{suffix}"
        path.write_text(text)
        return load_spec_file(path)

    return loader


def inputs(spec: PipelineSpec) -> dict:
    return spec.input.to_spec()


def test_pipeline_project_default_given_as_an_object_is_accepted(load) -> None:
    spec = load(
        '{"pipeline": {"project": {"name": "default"}, "name": "edges"},'
        ' "input": {"pfs": {"project": "default", "repo": "images", "glob": "/*"}},'
        ' "transform": {"cmd": ["python3", "/edges.py"], "image": "opencv:1"}}'
    )
    assert (spec.name, spec.image, spec.cmd) == ("edges", "opencv:1", ("python3", "/edges.py"))
    assert inputs(spec) == {"pfs": {"repo": "images", "glob": "/*", "branch": "master"}}


def test_a_non_default_project_is_refused_naming_the_field_and_project(load) -> None:
    text = (
        '{"pipeline": {"name": "edges"}, "transform": {"cmd": ["edges"]},'
        ' "input": {"union": [{"pfs": {"repo": "images", "glob": "/*"}},'
        ' {"pfs": {"repo": "images", "glob": "/*", "project": "staging"}}]}}'
    )
    with pytest.raises(InvalidSpec, match=r"input\.union\[1\]\.pfs\.project' is 'staging'"):
        load(text)


def test_description_and_image_are_recorded(load) -> None:
    spec = load(
        "pipeline: {name: m}\ndescription: A montage.\ninput: {pfs: {repo: r, glob: /}}\n"
        "transform: {cmd: [sh], image: 'imagemagick:7'}\n",
        ".yaml",
    )
    assert (spec.description, spec.image, spec.transform_json()["image"]) == (
        "A montage.",
        "imagemagick:7",
        "imagemagick:7",
    )


def test_cmd_and_stdin_lines_are_kept_verbatim(load) -> None:
    line = "montage -shadow $(find /pfs -type f | sort) /pfs/out/montage.png"
    spec = load(
        f"pipeline: {{name: m}}\ninput: {{pfs: {{repo: r, glob: /}}}}\n"
        f"transform:\n  cmd: [sh]\n  stdin:\n    - {line}\n",
        ".yaml",
    )
    assert (spec.cmd, spec.stdin) == (("sh",), (line,))


def test_a_pfs_input_may_be_named_apart_from_its_repo(load) -> None:
    spec = load(
        '{"pipeline": {"name": "model"}, "transform": {"cmd": ["sh"]}, "input": {"cross": ['
        '{"pfs": {"repo": "raw_data", "glob": "/iris.csv"}},'
        '{"pfs": {"name": "c-parameters", "repo": "parameters", "glob": "/c.txt/*"}}]}}'
    )
    first, second = inputs(spec)["cross"]
    assert first["pfs"] == {"repo": "raw_data", "glob": "/iris.csv", "branch": "master"}
    assert second["pfs"]["name"] == "c-parameters"
    assert second["pfs"]["repo"] == "parameters"


@pytest.mark.parametrize("key", ["emptyFiles", "empty_files"])
def test_a_union_of_inputs_with_empty_files_in_either_spelling(load, key: str) -> None:
    spec = load(
        '{"pipeline": {"name": "shuffle"}, "transform": {"cmd": ["bash"]}, "input": {"union": ['
        f'{{"pfs": {{"glob": "/*.jpeg", "repo": "fruits", "{key}": true}}}},'
        f'{{"pfs": {{"glob": "/*.json", "repo": "pricing", "{key}": true}}}}]}}}}'
    )
    assert [c["pfs"]["empty_files"] for c in inputs(spec)["union"]] == [True, True]


@pytest.mark.parametrize(
    ("suffix", "text"),
    [
        (
            ".json",
            '{"pipeline": {"name": "j"}, "transform": {"cmd": ["x"]}, "input": {"join": ['
            '{"pfs": {"repo": "stores", "glob": "/STOREID(*).txt", "join_on": "$1",'
            ' "outer_join": true}},'
            '{"pfs": {"repo": "returns", "glob": "/*_STOREID(*).txt", "join_on": "$1"}}]}}',
        ),
        (
            ".yaml",
            "pipeline: {name: j}\ntransform: {cmd: [x]}\ninput:\n  join:\n"
            "    - pfs: {repo: stores, glob: '/STOREID(*).txt', joinOn: $1, outerJoin: true}\n"
            "    - pfs: {repo: returns, glob: '/*_STOREID(*).txt', joinOn: $1}\n",
        ),
    ],
)
def test_join_on_and_outer_join_in_json_snake_and_yaml_camel(load, suffix: str, text: str) -> None:
    stores, returns = (c["pfs"] for c in inputs(load(text, suffix))["join"])
    assert (stores["join_on"], stores.get("outer_join"), returns["join_on"]) == ("$1", True, "$1")
    assert "outer_join" not in returns


@pytest.mark.parametrize("key", ["groupBy", "group_by"])
def test_group_by_over_several_inputs(load, key: str) -> None:
    body = ",".join(
        f'{{"pfs": {{"repo": "{r}", "branch": "master", "glob": "/*_STOREID(*).txt",'
        f' "{key}": "$1"}}}}'
        for r in ("stores", "purchases", "returns")
    )
    spec = load(
        f'{{"pipeline": {{"name": "g"}}, "transform": {{"cmd": ["x"]}},'
        f' "input": {{"group": [{body}]}}}}'
    )
    assert [c["pfs"]["group_by"] for c in inputs(spec)["group"]] == ["$1", "$1", "$1"]


def test_a_cron_input_gets_its_tick_repo_and_default_fields(load) -> None:
    spec = load(
        '{"pipeline": {"name": "query"}, "transform": {"cmd": ["bash"]},'
        ' "input": {"cron": {"name": "tick", "spec": "@every 10s"}}}'
    )
    (tick,) = cron_inputs(spec.input)
    assert (tick.name, tick.spec, tick.repo, tick.overwrite, tick.start) == (
        "tick",
        "@every 10s",
        "query_tick",
        False,
        None,
    )


def test_a_yaml_cron_start_may_be_an_unquoted_timestamp(load) -> None:
    spec = load(
        "pipeline: {name: q}\ntransform: {cmd: [sh]}\ninput:\n  cron:\n"
        "    {name: tick, spec: '*/5 * * * *', repo: ticks, overwrite: true,"
        " start: 2024-01-01T00:00:00Z}\n",
        ".yaml",
    )
    (tick,) = cron_inputs(spec.input)
    assert (tick.repo, tick.overwrite, tick.start) == (
        "ticks",
        True,
        datetime(2024, 1, 1, tzinfo=UTC),
    )


def test_a_cron_inside_a_cross(load) -> None:
    spec = load(
        '{"pipeline": {"name": "scrape"}, "transform": {"cmd": ["sh"]}, "input": {"cross":'
        ' [{"cron": {"name": "tick", "spec": "@hourly"}},'
        ' {"pfs": {"repo": "urls", "glob": "/*"}}]}}'
    )
    tick, urls = spec.input.inputs  # type: ignore[attr-defined]
    assert isinstance(tick, CronInput)
    assert (tick.repo, urls.repo) == ("scrape_tick", "urls")


@pytest.mark.parametrize("key", ["acceptReturnCode", "accept_return_code"])
def test_accepted_return_codes_in_either_spelling(load, key: str) -> None:
    spec = load(
        f'{{"pipeline": {{"name": "scraper"}},'
        f' "input": {{"pfs": {{"repo": "urls", "glob": "/*"}}}},'
        f' "transform": {{"cmd": ["bash"], "{key}": [4, 5, 6, 7, 8]}}}}'
    )
    assert spec.accept_return_code == (4, 5, 6, 7, 8)


def test_env_values_become_strings(load) -> None:
    spec = load(
        "pipeline: {name: t}\ninput: {pfs: {repo: r, glob: /}}\ntransform:\n  cmd: [sh]\n"
        "  env: {LD_LIBRARY_PATH: /usr/lib/nvidia, EPOCHS: 3}\n",
        ".yaml",
    )
    assert spec.env == {"LD_LIBRARY_PATH": "/usr/lib/nvidia", "EPOCHS": "3"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"parallelism_spec": {"constant": "1"}', 1),  # int64 as a string, as protojson writes it
        ('"parallelismSpec": {"constant": 4}', 4),
    ],
)
def test_parallelism_constant_as_number_or_string(load, text: str, expected: int) -> None:
    spec = load(
        '{"pipeline": {"name": "p"}, "transform": {"cmd": ["sh"]},'
        f' "input": {{"pfs": {{"repo": "r", "glob": "/"}}}}, {text}}}'
    )
    assert spec.parallelism == expected


def test_datum_tries_timeout_and_output_branch_in_either_spelling(load) -> None:
    spec = load(
        '{"pipeline": {"name": "p"}, "transform": {"cmd": ["sh"]},'
        ' "input": {"pfs": {"repo": "r", "glob": "/"}}, "datum_tries": "2",'
        ' "datumTimeout": "1m", "outputBranch": "staging"}'
    )
    assert (spec.datum_tries, spec.datum_timeout, spec.output_branch) == (2, 60.0, "staging")


def test_resource_and_scaling_knobs_are_ignored_with_a_note_each(load) -> None:
    spec = load(
        '{"pipeline": {"name": "train"}, "transform": {"cmd": ["/train.py"], "user": "root"},'
        ' "input": {"pfs": {"repo": "tweets", "glob": "/*"}},'
        ' "resourceLimits": {"memory": "4.0G", "cpu": 2,'
        ' "gpu": {"type": "nvidia.com/gpu", "number": 1}},'
        ' "resource_requests": {"memory": "10G", "cpu": 1}, "autoscaling": true,'
        ' "enable_stats": true, "standby": true}'
    )
    assert spec.migration_notes == tuple(
        f"{k}: ignored (no effect outside Kubernetes)"
        for k in (
            "autoscaling",
            "enable_stats",
            "resource_limits",
            "resource_requests",
            "standby",
            "transform.user",
        )
    )


def test_json_objects_separated_by_three_dashes_are_several_pipelines(tmp_path: Path) -> None:
    path = tmp_path / "train_and_export.pipeline.json"
    one = (
        '{"pipeline": {"name": "%s"}, "transform": {"cmd": ["bash"]},'
        ' "input": {"pfs": {"repo": "%s", "glob": "/"}}}'
    )
    path.write_text(
        one % ("checkpoint", "training") + "\n---\n" + one % ("model", "checkpoint") + "\n"
    )
    assert [(s.name, s.input.repo) for s in load_spec_files(path)] == [  # type: ignore[attr-defined]
        ("checkpoint", "training"),
        ("model", "checkpoint"),
    ]


@pytest.mark.parametrize(
    ("text", "construct"),
    [
        ('"spout": {}', "field 'spout': spout pipelines"),  # an empty message is set
        ('"spout": {"overwrite": true}', "field 'spout': spout pipelines"),
        ('"service": {"internalPort": 8888, "externalPort": 30888}', "field 'service': service"),
        ('"s3Out": true', "field 's3_out'"),
    ],
)
def test_out_of_scope_pipeline_kinds_are_refused_naming_the_construct(
    load, text: str, construct: str
) -> None:
    with pytest.raises(InvalidSpec, match=re.escape(construct)):
        load(
            '{"pipeline": {"name": "spout"}, "transform": {"cmd": ["python", "main.py"]},'
            f" {text}}}"
        )


def test_a_1x_atom_input_is_refused_naming_atom(load) -> None:
    with pytest.raises(InvalidSpec, match=r"'input\.atom': Pachyderm 1\.x 'atom' inputs"):
        load(
            "pipeline: {name: old}\ntransform: {cmd: [sh]}\ninput: {atom: {repo: r, glob: /*}}\n",
            ".yml",
        )


def test_secrets_are_refused_naming_transform_secrets(load) -> None:
    with pytest.raises(InvalidSpec, match=r"field 'transform\.secrets': Kubernetes secrets"):
        load(
            '{"pipeline": {"name": "query"},'
            ' "input": {"cron": {"name": "tick", "spec": "@every 10s"}},'
            ' "transform": {"cmd": ["bash"], "secrets": [{"name": "mongosecret",'
            ' "mount_path": "/tmp/mongosecret"}]}}'
        )


def test_an_s3_input_is_refused(load) -> None:
    with pytest.raises(InvalidSpec, match=r"input\.pfs\.s3"):
        load(
            "pipeline: {name: mnist}\ntransform: {cmd: [/app/run.sh]}\n"
            "input: {pfs: {name: input, repo: input-repo, glob: /, s3: true}}\n",
            ".yaml",
        )


def test_every_spec_file_of_the_end_to_end_examples_loads() -> None:
    loaded = {
        s.name
        for f in sorted(EXAMPLES.glob("*.*"))
        if f.suffix != ".md"
        for s in load_spec_files(f)
    }
    assert loaded == {
        "edges",
        "montage",
        "map",
        "reduce",
        "inner_join",
        "outer_join",
        "group_by_patient",
        "shuffle",
        "ticker",
    }
