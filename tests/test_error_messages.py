"""Every user-facing error names the value it was given and says what would be valid.

One case per raise site, each reached through the public API: pipeline-spec files
(``load_spec_file``, what ``pipeline_from_spec`` reads), ``PipelineSpec``, the input builders
(``pfs``, ``cross``, ``join``, ``group``), grid pipelines and ``grid_job``, and the IO
manager's choice of format. Each case asserts the error's class and the words of its message
that name the bad value and hint at a valid one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from dagster_versioned import GridPipeline, GridStep, PipelineSpec, cross, group, join, pfs
from dagster_versioned.errors import InvalidArgument, InvalidSpec, VersionedError
from dagster_versioned.grids import grid_job
from dagster_versioned.io.formats import choose_format
from dagster_versioned.pps.spec import load_spec_file

# ---------------------------------------------------------------- helpers


def a_step() -> None:
    """A grid step's function (never run here)."""


def a_transform(datum: Any) -> None:
    """A pipeline's function (never run here)."""


def assert_names(error: VersionedError, *parts: str) -> None:
    message = str(error)
    for part in parts:
        assert part in message, f"{part!r} missing from the message {message!r}"


SPEC: dict[str, Any] = {
    "pipeline": {"name": "edges"},
    "input": {"pfs": {"repo": "images", "glob": "/*"}},
    "transform": {"cmd": ["true"]},
}


def spec_with(**fields: Any) -> dict[str, Any]:
    """A valid spec file's content with ``fields`` replaced (``None`` drops a field)."""
    raw = {**SPEC, **fields}
    return {k: v for k, v in raw.items() if v is not None}


def load(tmp_path: Path, raw: Any) -> PipelineSpec:
    path = tmp_path / "edges.json"
    path.write_text(json.dumps(raw))
    return load_spec_file(path)


# ---------------------------------------------------------------- pipeline spec files

KNOWN_FIELDS = (
    "autoscaling, cache_size, datum_set_spec, datum_timeout, datum_tries, description, egress"
)


@pytest.mark.parametrize(
    ("raw", "parts"),
    [
        pytest.param([1, 2], ["expected a JSON object", "got list"], id="not-an-object"),
        pytest.param(
            spec_with(colour="blue"),
            ["unknown field 'colour'", f"known fields: {KNOWN_FIELDS}", "transform"],
            id="unknown-field-lists-the-known-ones-sorted",
        ),
        pytest.param(
            spec_with(transform={"cmd": ["true"], "shell": "bash"}),
            [
                "unknown field 'transform.shell'",
                "known fields of 'transform': accept_return_code, build, cmd, debug",
            ],
            id="unknown-transform-field-lists-the-known-ones-sorted",
        ),
        pytest.param(
            spec_with(transform={"cmd": "echo hi"}),
            ["'transform.cmd' must be a list of strings", "got 'echo hi'"],
            id="cmd-not-a-list",
        ),
        pytest.param(
            spec_with(transform={"cmd": ["true"], "env": ["A=1"]}),
            ["'transform.env' must be an object of strings", "got ['A=1']"],
            id="env-not-an-object",
        ),
        pytest.param(
            spec_with(pipeline="edges"),
            ["'pipeline.name' is required", '{"pipeline": {"name": ', "got 'edges'"],
            id="pipeline-not-an-object",
        ),
        pytest.param(
            spec_with(input=None),
            ["'input' is required", "pfs, cross, union, join, group"],
            id="input-missing",
        ),
        pytest.param(
            spec_with(transform={"image": "alpine:3"}),
            ["'transform.cmd' is required (a list of strings)", "got {'image': 'alpine:3'}"],
            id="cmd-missing",
        ),
        pytest.param(
            spec_with(egress={"bucket": "b"}),
            ["'egress' needs a 'URL'", '{"egress": {"URL": ', "got {'bucket': 'b'}"],
            id="egress-without-url",
        ),
        pytest.param(
            spec_with(datum_tries="0"),
            ["datum_tries must be ≥ 1", "got 0"],
            id="datum-tries-below-one",
        ),
        pytest.param(
            spec_with(reprocess_spec="sometimes"),
            ["'until_success' or 'every_job'", "got 'sometimes'"],
            id="unknown-reprocess-spec",
        ),
        pytest.param(
            spec_with(input={"pfs": {"repo": "images", "globs": "/*"}}),
            [
                "input.pfs: unknown field 'globs'",
                "known fields: branch, commit, empty_files, glob, group_by",
            ],
            id="unknown-pfs-field-lists-the-known-ones-sorted",
        ),
        pytest.param(
            spec_with(input={"pfs": {"glob": "/*"}}),
            ["input.pfs: needs a 'repo'", '{"pfs": {"repo": ', "got {'glob': '/*'}"],
            id="pfs-without-repo",
        ),
        pytest.param(
            spec_with(input={"cross": {"pfs": {"repo": "images"}}}),
            ["input.cross: expected a list of inputs", "got dict"],
            id="combined-input-not-a-list",
        ),
    ],
)
def test_a_bad_spec_file_is_refused_naming_the_value_and_what_is_valid(
    tmp_path: Path, raw: Any, parts: list[str]
) -> None:
    with pytest.raises(InvalidSpec) as caught:
        load(tmp_path, raw)
    assert_names(caught.value, *parts)


# ---------------------------------------------------------------- PipelineSpec in code


@pytest.mark.parametrize(
    ("fields", "parts"),
    [
        pytest.param({"datum_tries": 0}, ["datum_tries must be ≥ 1", "got 0"], id="datum-tries"),
        pytest.param({"parallelism": -2}, ["parallelism must be ≥ 1", "got -2"], id="parallelism"),
        pytest.param(
            {"reprocess_spec": "never"},
            ["reprocess_spec must be 'until_success' or 'every_job'", "got 'never'"],
            id="reprocess-spec",
        ),
        pytest.param(
            {"cmd": ("true",)},
            ["give exactly one of a function or a cmd", "got both"],
            id="function-and-cmd",
        ),
        pytest.param(
            {"fn": None},
            ["give exactly one of a function or a cmd", "got neither"],
            id="neither-function-nor-cmd",
        ),
    ],
)
def test_a_pipeline_spec_with_a_bad_knob_names_the_value_given(
    fields: dict[str, Any], parts: list[str]
) -> None:
    with pytest.raises(InvalidSpec) as caught:
        PipelineSpec(**{"name": "edges", "input": pfs("images"), "fn": a_transform, **fields})
    assert_names(caught.value, "pipeline 'edges'", *parts)


# ---------------------------------------------------------------- inputs


@pytest.mark.parametrize(
    ("build", "parts"),
    [
        pytest.param(
            lambda: join(pfs("a", join_on="$1"), pfs("b")),
            ["with 'join_on' set", "got pfs input 'b' without 'join_on'"],
            id="join-of-a-pfs-input-without-join-on",
        ),
        pytest.param(
            lambda: join(pfs("a", join_on="$1"), cross(pfs("b"), pfs("c"))),
            ["with 'join_on' set", "got a cross input"],
            id="join-of-a-combined-input",
        ),
        pytest.param(
            lambda: group(pfs("a", name="left"), pfs("b", group_by="$1")),
            ["with 'group_by' set", "got pfs input 'left' without 'group_by'"],
            id="group-of-a-pfs-input-without-group-by",
        ),
        pytest.param(
            lambda: cross(pfs("out")),
            ["input cannot be named 'out'", "'.env', 'out' are reserved", "choose another name"],
            id="reserved-name-from-the-repo",
        ),
        pytest.param(
            lambda: cross(pfs("images", name=".env")),
            ["input cannot be named '.env'", "are reserved", "choose another name"],
            id="reserved-name-given",
        ),
        pytest.param(
            lambda: cross(pfs("a"), pfs("a")),
            ['name "a" was used more than once in a cross input', "distinct name"],
            id="duplicate-input-name",
        ),
        pytest.param(
            lambda: cross(),
            ["a cross input needs at least one input", "got none"],
            id="empty-combined-input",
        ),
    ],
)
def test_a_bad_input_names_the_offending_input_and_what_is_valid(
    build: Callable[[], Any], parts: list[str]
) -> None:
    with pytest.raises(InvalidSpec) as caught:
        build()
    assert_names(caught.value, *parts)


def test_a_reserved_input_name_is_refused_by_the_pipeline_spec_too() -> None:
    with pytest.raises(InvalidSpec) as caught:
        PipelineSpec(name="edges", input=pfs("images", name="out"), fn=a_transform)
    assert_names(caught.value, "'out'", "reserved", "choose another name")


# ---------------------------------------------------------------- grid pipelines and jobs


def two_steps() -> GridPipeline:
    return GridPipeline(
        name="train",
        steps=[
            GridStep(name="prepare", fn=a_step),
            GridStep(name="fit", fn=a_step, deps=("prepare",)),
        ],
    )


@pytest.mark.parametrize(
    ("build", "parts"),
    [
        pytest.param(
            lambda: two_steps().step("evaluate"),
            ["pipeline 'train' has no step 'evaluate'", "its steps: prepare, fit"],
            id="unknown-step-lists-the-steps",
        ),
        pytest.param(
            lambda: GridStep(name="fit", fn=a_step, script="fit.py"),
            ["step 'fit': give exactly one of fn= or script=", "got both"],
            id="step-with-fn-and-script",
        ),
        pytest.param(
            lambda: GridStep(name="fit"),
            ["step 'fit': give exactly one of fn= or script=", "got neither"],
            id="step-with-neither",
        ),
        pytest.param(
            lambda: GridPipeline(name="train", steps=[]),
            ["pipeline 'train' has no steps", "at least one GridStep"],
            id="pipeline-without-steps",
        ),
        pytest.param(
            lambda: GridPipeline(name="train", steps=[GridStep(name="fit", fn=a_step)] * 2),
            ["two steps are named 'fit'", "distinct name"],
            id="two-steps-of-one-name",
        ),
    ],
)
def test_a_bad_grid_pipeline_names_the_step_and_what_is_valid(
    build: Callable[[], Any], parts: list[str]
) -> None:
    with pytest.raises(InvalidSpec) as caught:
        build()
    assert_names(caught.value, *parts)


@pytest.mark.parametrize(
    ("options", "parts"),
    [
        pytest.param(
            {"schedule": "*/5 * * * *", "at": datetime(2030, 1, 2, 3, 4, tzinfo=UTC)},
            [
                "give either a cron schedule or at=, not both",
                "schedule='*/5 * * * *'",
                "at=2030-01-02T03:04:00+00:00",
            ],
            id="cron-schedule-and-start-time",
        ),
        pytest.param(
            {"snapshot": "no-such-project"},
            ["no-such-project", "is not a directory", "snapshot=None"],
            id="snapshot-not-a-directory",
        ),
    ],
)
def test_a_grid_job_with_conflicting_options_shows_the_values_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, options: dict[str, Any], parts: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidArgument) as caught:
        grid_job("nightly", two_steps(), storage=str(tmp_path / "store"), **options)
    assert_names(caught.value, *parts)


# ---------------------------------------------------------------- IO manager formats


@pytest.mark.parametrize(
    ("value", "override", "parts"),
    [
        pytest.param(
            ("a", 1),
            "json",
            ["format 'json' cannot store a value of type tuple", "it stores None", "'pickle'"],
            id="json-of-a-tuple",
        ),
        pytest.param(
            "hello",
            "bytes",
            [
                "format 'bytes' cannot store a value of type str",
                "bytes, bytearray or memoryview",
                "stored as 'text'",
            ],
            id="bytes-of-a-str",
        ),
        pytest.param(
            {"a": 1},
            "parquet",
            ["type dict", "it stores a pandas.DataFrame", "stored as 'json'"],
            id="parquet-of-a-dict",
        ),
        pytest.param(
            b"raw",
            "xml",
            ["unknown format 'xml' in dv/format", "parquet, bytes, text, json, pickle, tree"],
            id="unknown-format",
        ),
    ],
)
def test_a_format_that_cannot_store_the_value_names_the_types_it_accepts(
    value: Any, override: str, parts: list[str]
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        choose_format(value, override)
    assert_names(caught.value, *parts)
