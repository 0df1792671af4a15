"""The Pachyderm spec loader: both key spellings, YAML, and the rule for each construct."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from dagster_versioned.errors import InvalidSpec
from dagster_versioned.pps.protojson import MESSAGES, json_name
from dagster_versioned.pps.spec import load_spec_file, load_spec_files, spec_from_json

DOCS = Path(__file__).resolve().parents[2] / "docs" / "migrating.md"


def camel_spec(**extra: Any) -> dict[str, Any]:
    return {
        "pipeline": {"name": "edges", "project": {"name": "default"}},
        "transform": {
            "cmd": ["python3", "edges.py"],
            "image": "py:3",
            "workingDir": "/code",
            "acceptReturnCode": [1],
            "errCmd": ["true"],
        },
        "input": {
            "cross": [
                {
                    "pfs": {
                        "repo": "images",
                        "glob": "/*",
                        "joinOn": "$1",
                        "emptyFiles": True,
                        "project": "default",
                        "outerJoin": True,
                    }
                },
                {"pfs": {"repo": "masks", "glob": "/(*)", "groupBy": "$1", "lazy": True}},
            ]
        },
        "outputBranch": "out",
        "parallelismSpec": {"constant": 3},
        "datumTries": "2",
        "datumTimeout": "1m30s",
        "resourceRequests": {"cpu": 1, "memory": "1G"},
        **extra,
    }


def test_camel_case_specs_load_to_the_same_fields_as_snake_case() -> None:
    spec = spec_from_json(camel_spec())
    assert (spec.name, spec.output_branch, spec.parallelism, spec.datum_tries) == (
        "edges",
        "out",
        3,
        2,
    )
    assert spec.datum_timeout == 90.0
    assert spec.working_dir == "/code"
    assert spec.image == "py:3"
    assert spec.accept_return_code == (1,)
    assert spec.err_cmd == ("true",)
    first, second = spec.input.to_spec()["cross"]
    assert first["pfs"]["join_on"] == "$1"
    assert first["pfs"]["empty_files"] is True
    assert second["pfs"]["group_by"] == "$1"
    assert second["pfs"]["lazy"] is True
    assert spec.migration_notes == ("resource_requests: ignored (no effect outside Kubernetes)",)


def test_both_spellings_of_one_field_are_refused_naming_both() -> None:
    raw = camel_spec(output_branch="other")
    with pytest.raises(InvalidSpec, match="'outputBranch' and 'output_branch'"):
        spec_from_json(raw)


def test_an_unknown_nested_field_names_its_path_and_the_valid_ones() -> None:
    raw = camel_spec()
    raw["input"]["cross"][0]["pfs"]["globz"] = "/*"
    with pytest.raises(InvalidSpec, match=r"input.cross\[0\].pfs: unknown field 'globz'.*join_on"):
        spec_from_json(raw)


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"spout": {"overwrite": True}}, "field 'spout': spout pipelines"),
        ({"service": {"internalPort": 80}}, "field 'service': service pipelines"),
        ({"input": {"atom": {"repo": "images", "glob": "/*"}}}, "1.x 'atom' inputs"),
        ({"pipeline": {"name": "e", "project": {"name": "staging"}}}, "'staging'"),
    ],
)
def test_constructs_that_change_results_are_refused_by_name(
    extra: dict[str, Any], words: str
) -> None:
    with pytest.raises(InvalidSpec, match=re.escape(words)):
        spec_from_json(camel_spec(**extra))


def test_secrets_and_a_non_default_input_project_are_refused() -> None:
    raw = camel_spec()
    raw["transform"]["secrets"] = [{"name": "s", "envVar": "S"}]
    with pytest.raises(InvalidSpec, match=r"transform\.secrets"):
        spec_from_json(raw)
    raw = camel_spec()
    raw["input"]["cross"][1]["pfs"]["project"] = "staging"
    with pytest.raises(InvalidSpec, match=r"input.cross\[1\].pfs.project' is 'staging'"):
        spec_from_json(raw)


def test_yaml_files_load_and_may_hold_several_pipelines(tmp_path: Path) -> None:
    path = tmp_path / "specs.yaml"
    path.write_text(
        "pipeline: {name: a}\ntransform: {cmd: [cat]}\ninput: {pfs: {repo: r, glob: /*}}\n"
        "---\n"
        "pipeline: {name: b}\ntransform: {cmd: [cat]}\n"
        "input: {cron: {name: tick, spec: '@every 1h', overwrite: true}}\n"
    )
    a, b = load_spec_files(path)
    assert (a.name, b.name) == ("a", "b")
    assert b.input.to_spec()["cron"] == {
        "name": "tick",
        "spec": "@every 1h",
        "repo": "b_tick",
        "overwrite": True,
    }
    with pytest.raises(InvalidSpec, match="holds 2 pipelines"):
        load_spec_file(path)


def test_json_files_may_hold_several_objects(tmp_path: Path) -> None:
    path = tmp_path / "specs.json"
    one = {
        "pipeline": {"name": "a"},
        "transform": {"cmd": ["cat"]},
        "input": {"pfs": {"repo": "r", "glob": "/*"}},
    }
    path.write_text(json.dumps(one) + "\n" + json.dumps({**one, "pipeline": {"name": "b"}}))
    assert [s.name for s in load_spec_files(path)] == ["a", "b"]


def test_the_migration_table_lists_exactly_the_fields_of_the_schema() -> None:
    rows = re.findall(r"^\| `(\w+)\.(\w+)` \| `(\w+)` \| (\w+) \|", DOCS.read_text(), re.M)
    documented = {(m, f) for m, f, _, _ in rows}
    schema = {(m, f) for m, fields in MESSAGES.items() for f in fields}
    assert documented == schema
    assert all(j == json_name(f) for _, f, j, _ in rows)
    assert {s for *_, s in rows} <= {"supported", "different", "ignored", "refused"}
