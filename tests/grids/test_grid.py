"""Parameter grids, parameter files and partition keys (no Dagster runs)."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dagster_versioned.errors import AlreadyExists, InvalidParameters
from dagster_versioned.gridcore.keys import MAX_KEY_LENGTH, NO_PARAMETERS_KEY, cell_key
from dagster_versioned.grids import (
    ParameterDefaults,
    ParameterGrid,
    cell_for_partition_key,
    generate_parameters_file,
    grid_partitions_def,
    read_parameters_file,
    write_parameters_file,
)

DEFAULTS = ParameterDefaults(pipeline={"a": 0}, steps={"S": {"b": "w"}, "T": {}})


def write(path: Path, data: object) -> Path:
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


# -- scenario 1: grid expansion ----------------------------------------------------------------


def test_grid_expansion_is_the_cartesian_product_in_canonical_order(tmp_path: Path) -> None:
    path = write(
        tmp_path / "train.parameters.json",
        {"pipeline_parameters": {"a": [1, 2]}, "S": {"b": ["x", "y", "z"]}},
    )
    grid = read_parameters_file(path, defaults=DEFAULTS)
    pairs = [(c.pipeline_parameters["a"], c.step_parameters["S"]["b"]) for c in grid.cells]
    assert pairs == [(1, "x"), (1, "y"), (1, "z"), (2, "x"), (2, "y"), (2, "z")]
    assert [c.index for c in grid.cells] == list(range(6))
    keys = [c.key for c in grid.cells]
    assert len(set(keys)) == 6
    assert keys[0] == "a=1;S.b=x"
    partitions = grid_partitions_def(grid, multi=False)
    assert isinstance(partitions, dg.StaticPartitionsDefinition)
    assert partitions.get_partition_keys() == keys


def test_pipeline_parameters_come_first_then_steps_in_pipeline_order_last_varying_fastest() -> None:
    defaults = ParameterDefaults(
        pipeline={"p": 0, "q": 0}, steps={"first": {"r": 0}, "second": {"s": 0}}
    )
    grid = ParameterGrid(
        pipeline={"q": [1, 2], "p": [1, 2]},
        steps={"second": {"s": [1, 2]}, "first": {"r": [1, 2]}},
        defaults=defaults,
    )
    assert [d.label for d in grid.dimensions] == ["p", "q", "first.r", "second.s"]
    last = [c.step_parameters["second"]["s"] for c in grid.cells[:4]]
    assert last == [1, 2, 1, 2]
    assert grid.size == 16


def test_pipeline_and_step_parameters_with_one_name_stay_apart() -> None:
    grid = ParameterGrid(pipeline={"lr": [0.1, 0.2]}, steps={"fit": {"lr": [1]}})
    assert [c.describe() for c in grid.cells] == ["lr=0.1, fit.lr=1", "lr=0.2, fit.lr=1"]
    assert grid.cells[1].pipeline_parameters == {"lr": 0.2}
    assert grid.cells[1].step_parameters == {"fit": {"lr": 1}}


# -- scenario 2: single values and lists of lists ----------------------------------------------


def test_a_single_value_list_gives_one_cell(tmp_path: Path) -> None:
    grid = read_parameters_file(write(tmp_path / "p.json", {"pipeline_parameters": {"lr": [0.1]}}))
    assert len(grid.cells) == 1
    assert grid.cells[0].pipeline_parameters == {"lr": 0.1}


def test_a_list_of_a_list_is_one_option_that_is_a_list(tmp_path: Path) -> None:
    grid = read_parameters_file(
        write(tmp_path / "p.json", {"pipeline_parameters": {"lr": [[1, 2]]}})
    )
    assert len(grid.cells) == 1
    assert grid.cells[0].pipeline_parameters == {"lr": [1, 2]}
    assert grid.cells[0].key.startswith("h_")  # a list has no readable form


def test_in_code_a_non_list_value_is_one_option() -> None:
    grid = ParameterGrid(pipeline={"lr": 0.1, "layers": [[8, 8]]})
    assert [dict(c.pipeline_parameters) for c in grid.cells] == [{"lr": 0.1, "layers": [8, 8]}]


# -- scenario 3: defaults -------------------------------------------------------------------


def test_defaults_fill_what_the_file_leaves_out(tmp_path: Path) -> None:
    defaults = ParameterDefaults(pipeline={"p": 5}, steps={"S": {"q": 7}})
    path = write(tmp_path / "p.json", {"pipeline_parameters": {"p": [1, 2, 3]}})
    grid = read_parameters_file(path, defaults=defaults)
    assert [c.pipeline_parameters["p"] for c in grid.cells] == [1, 2, 3]
    assert all(c.step_parameters["S"] == {"q": 7} for c in grid.cells)


def test_a_pipeline_without_parameters_has_one_cell() -> None:
    grid = ParameterGrid(defaults=ParameterDefaults(steps={"S": {}}))
    assert len(grid.cells) == 1
    assert grid.cells[0].key == NO_PARAMETERS_KEY


# -- scenario 5: strict files -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "key", "problem"),
    [
        ('{"pipeline_parameters": {"a": 1}}', "pipeline_parameters.a", "is not a list"),
        ('{"pipeline_parameters": {"a": []}}', "pipeline_parameters.a", "empty"),
        ('{"nope": {"b": [1]}}', "nope", "unknown step 'nope'"),
        ('{"S": {"c": [1]}}', "S.c", "unknown parameter 'c'"),
        ('{"S": [1]}', "S", "expected an object"),
        ('{"pipeline_parameters": {"a": [1, 1]}}', "pipeline_parameters.a", "listed twice"),
        ('{"pipeline_parameters": ', "", "not valid JSON"),
        ("[1, 2]", "", "expected a JSON object"),
    ],
)
def test_a_bad_parameters_file_names_the_file_the_key_and_the_problem(
    tmp_path: Path, content: str, key: str, problem: str
) -> None:
    path = write(tmp_path / "train.parameters.json", content)
    with pytest.raises(InvalidParameters) as caught:
        read_parameters_file(path, defaults=DEFAULTS)
    message = str(caught.value)
    assert str(path) in message
    assert problem in message
    assert caught.value.key == key  # type: ignore[attr-defined]
    if key:
        assert f"key '{key}'" in message


def test_a_missing_parameters_file_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameters, match="does not exist"):
        read_parameters_file(tmp_path / "missing.parameters.json")


# -- scenario 6 (grid part): deselection --------------------------------------------------------


def test_deselected_cells_keep_the_other_cells_numbers() -> None:
    grid = ParameterGrid(pipeline={"a": [1, 2]}, steps={"S": {"b": ["x", "y", "z"]}}).deselect(1, 4)
    assert [c.index for c in grid.cells] == [0, 2, 3, 5]
    assert grid.size == 6
    assert len(grid_partitions_def(grid, multi=False).get_partition_keys()) == 4


def test_deselecting_every_cell_is_rejected() -> None:
    grid = ParameterGrid(pipeline={"a": [1, 2]}).deselect(0, 1)
    with pytest.raises(InvalidParameters, match="empty list of parameters"):
        grid.require_cells()


def test_deselecting_a_cell_that_does_not_exist_is_rejected() -> None:
    with pytest.raises(InvalidParameters, match="cells 0 to 1"):
        ParameterGrid(pipeline={"a": [1, 2]}, deselected=[2])


# -- partition keys -----------------------------------------------------------------------------


def test_long_or_unsafe_cells_get_a_stable_hash_key_that_reverses_through_the_grid() -> None:
    grid = ParameterGrid(
        pipeline={"path": ["s3://bucket/a,b", "x" * 80, "plain"], "n": [1]},
    )
    keys = [c.key for c in grid.cells]
    assert keys[2] == "path=plain;n=1"
    for key in keys[:2]:
        assert key.startswith("h_")
        assert len(key) <= MAX_KEY_LENGTH
    assert all(not any(ch in k for ch in "/|,[]") for k in keys)
    assert cell_for_partition_key(grid, keys[0]).pipeline_parameters["path"] == "s3://bucket/a,b"
    again = ParameterGrid(pipeline={"path": ["s3://bucket/a,b"], "n": [1]})
    assert again.cells[0].key == keys[0]  # the key is a function of the cell's content


def test_a_string_that_looks_like_another_type_is_not_rendered_readably() -> None:
    assert cell_key({"v": "1"}, {}) != cell_key({"v": 1}, {})
    assert cell_key({"v": "true"}, {}) != cell_key({"v": True}, {})
    assert cell_key({"v": 1}, {}) == "v=1"


def test_two_readable_dimensions_make_a_multi_partitions_definition() -> None:
    grid = ParameterGrid(pipeline={"lr": [0.1, 0.01]}, steps={"fit": {"depth": [3, 5]}})
    partitions = grid_partitions_def(grid)
    assert isinstance(partitions, dg.MultiPartitionsDefinition)
    keys = partitions.get_partition_keys()
    assert len(keys) == 4
    for key in keys:
        cell = cell_for_partition_key(grid, key)
        assert {cell.pipeline_parameters["lr"], cell.step_parameters["fit"]["depth"]} <= {
            0.1,
            0.01,
            3,
            5,
        }
    assert {cell_for_partition_key(grid, k).index for k in keys} == {0, 1, 2, 3}


def test_three_dimensions_or_unreadable_values_use_one_static_key() -> None:
    three = ParameterGrid(pipeline={"a": [1, 2], "b": [1], "c": [1]})
    assert isinstance(grid_partitions_def(three), dg.StaticPartitionsDefinition)
    odd = ParameterGrid(pipeline={"a": [[1], [2]], "b": [1]})
    assert isinstance(grid_partitions_def(odd), dg.StaticPartitionsDefinition)


# -- writing and generating files ----------------------------------------------------------------


def test_a_written_parameters_file_reads_back_as_the_same_grid(tmp_path: Path) -> None:
    grid = ParameterGrid(pipeline={"a": [1, [2, 3]]}, steps={"S": {"b": ["x"]}})
    path = write_parameters_file(tmp_path / "t.parameters.json", grid)
    assert json.loads(path.read_text()) == {
        "pipeline_parameters": {"a": [1, [2, 3]]},
        "S": {"b": ["x"]},
    }
    assert read_parameters_file(path) == grid
    with pytest.raises(AlreadyExists):
        write_parameters_file(path, grid)
    write_parameters_file(path, {"pipeline_parameters": {"a": [5]}}, overwrite=True)
    assert read_parameters_file(path).cells[0].pipeline_parameters == {"a": 5}


def test_generating_a_parameters_file_writes_the_defaults_as_one_run(tmp_path: Path) -> None:
    path = generate_parameters_file(tmp_path / "train.parameters.json", DEFAULTS)
    assert json.loads(path.read_text()) == {"pipeline_parameters": {"a": [0]}, "S": {"b": ["w"]}}
    assert len(read_parameters_file(path, defaults=DEFAULTS).cells) == 1


def test_reconciling_drops_gone_parameters_adds_new_ones_and_merges_duplicates() -> None:
    old = ParameterDefaults(pipeline={"a": 0}, steps={"S": {"b": "w"}})
    grid = ParameterGrid(
        pipeline={"a": [1, 2]}, steps={"S": {"b": ["x", "y"]}}, defaults=old
    ).deselect(3)
    new = ParameterDefaults(pipeline={"a": 0, "c": 0}, steps={"S": {}})
    reconciled = grid.reconcile(new)
    assert [dict(c.pipeline_parameters) for c in reconciled.cells] == [
        {"a": 1, "c": 0},
        {"a": 2, "c": 0},
    ]
    assert all(c.step_parameters == {"S": {}} for c in reconciled.cells)


# -- properties -------------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(max_size=12),
)
json_values = st.one_of(json_scalars, st.lists(json_scalars, max_size=3))
names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.-]{0,6}", fullmatch=True)
options = st.lists(
    json_values, min_size=1, max_size=3, unique_by=lambda v: json.dumps(v, sort_keys=True)
)
grids = st.builds(
    ParameterGrid,
    st.dictionaries(names, options, max_size=3),
    st.dictionaries(
        st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True),
        st.dictionaries(names, options, max_size=2),
        max_size=2,
    ),
)


@settings(max_examples=60, deadline=None)
@given(grids)
def test_every_cell_has_a_unique_clean_key_that_leads_back_to_it(grid: ParameterGrid) -> None:
    keys = [c.key for c in grid.cells]
    assert len(set(keys)) == len(keys)
    for cell in grid.cells:
        assert len(cell.key) <= MAX_KEY_LENGTH
        assert not any(bad in cell.key for bad in ("/", "|", ",", "[", "]", "...", "\n"))
        assert cell_for_partition_key(grid, cell.key) == cell


@settings(max_examples=40, deadline=None)
@given(grids)
def test_a_grid_survives_json_and_the_parameters_file_format(grid: ParameterGrid) -> None:
    assert ParameterGrid.from_json(json.loads(json.dumps(grid.to_json()))) == grid
    from dagster_versioned.gridcore.params_file import parse_parameters

    again = parse_parameters(json.loads(json.dumps(grid.to_parameters_json())))
    assert [c.content() for c in again.cells] == [
        {**c.content(), "step_parameters": {s: p for s, p in c.step_parameters.items() if p}}
        for c in grid.cells
    ]
