"""``input.cron`` in a pipeline spec: parsed, validated, named and written back unchanged."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dagster_versioned.errors import InvalidSpec
from dagster_versioned.pps.inputs import (
    CronInput,
    PfsInput,
    cron,
    cron_inputs,
    cross,
    input_from_spec,
    join,
    pfs,
    union,
)
from dagster_versioned.pps.spec import PipelineSpec


def spec_with(inp, name: str = "scraper") -> PipelineSpec:
    return PipelineSpec(name=name, input=inp, cmd=("true",))


def test_a_cron_input_is_read_from_snake_case_spec_fields():
    inp = input_from_spec(
        {
            "cron": {
                "name": "tick",
                "spec": "*/10 * * * *",
                "repo": "ticks",
                "overwrite": True,
                "start": "2024-01-02T03:04:05Z",
            }
        }
    )
    assert isinstance(inp, CronInput)
    assert (inp.name, inp.spec, inp.repo, inp.overwrite) == ("tick", "*/10 * * * *", "ticks", True)
    assert inp.start == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_a_cron_input_reads_its_tick_repo_like_a_pfs_input_with_glob_star():
    inp = cron("tick", "@every 1h", repo="ticks")
    assert isinstance(inp, PfsInput)
    assert (inp.repo, inp.branch, inp.glob, inp.input_name) == ("ticks", "master", "/*", "tick")


def test_the_tick_repo_defaults_to_pipeline_underscore_name():
    spec = spec_with(cross(cron("tick", "@every 1h"), pfs("images")), name="scraper")
    (tick,) = cron_inputs(spec.input)
    assert tick.repo == "scraper_tick"


def test_a_spec_with_a_cron_input_round_trips_through_to_spec():
    raw = {
        "cross": [
            {"cron": {"name": "tick", "spec": "@every 30s", "overwrite": True}},
            {"pfs": {"repo": "images", "glob": "/*", "branch": "master"}},
        ]
    }
    spec = spec_with(input_from_spec(raw), name="db-query")
    written = spec.input.to_spec()
    assert written["cross"][0] == {
        "cron": {"name": "tick", "spec": "@every 30s", "repo": "db-query_tick", "overwrite": True}
    }
    assert spec_with(input_from_spec(written), name="db-query").input == spec.input


def test_start_is_kept_to_the_second_in_utc():
    inp = cron("tick", "@daily", repo="t", start="2024-01-02T05:04:05.75+02:00")
    assert inp.start == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert inp.to_spec()["cron"]["start"] == "2024-01-02T03:04:05Z"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"spec": "@every 1h"}, "needs a 'name' and a 'spec'"),
        ({"name": "tick"}, "needs a 'name' and a 'spec'"),
        ({"name": "tick", "spec": "every hour"}, "invalid cron spec 'every hour'"),
        ({"name": "tick", "spec": "@every 0s"}, "invalid duration '0s'"),
        ({"name": "tick", "spec": "@daily", "start": "yesterday"}, "invalid time 'yesterday'"),
        ({"name": "tick", "spec": "@daily", "glob": "/*"}, "unknown field 'glob'"),
        ({"name": "tick", "spec": "@daily", "repo": "bad repo"}, "bad repo"),
    ],
)
def test_a_malformed_cron_input_is_refused_naming_the_bad_value(body, message):
    with pytest.raises(InvalidSpec, match=r"input\.cron") as e:
        input_from_spec({"cron": body})
    assert message in str(e.value)


def test_cron_names_must_be_unique_and_not_reserved_like_other_inputs():
    with pytest.raises(InvalidSpec, match='name "images" was used more than once'):
        cross(cron("images", "@daily", repo="t"), pfs("images"))
    with pytest.raises(InvalidSpec, match="cannot be named 'out'"):
        spec_with(cron("out", "@daily"))
    both = union(cron("tick", "@daily", repo="a"), cron("tick", "@hourly", repo="b"))
    assert [i.repo for i in cron_inputs(both)] == ["a", "b"]


def test_a_cron_input_cannot_be_joined():
    with pytest.raises(InvalidSpec, match="cron input 'tick'"):
        join(cron("tick", "@daily", repo="t"), pfs("images", join_on="$1"))


def test_a_pipeline_spec_file_with_a_cron_input_loads(tmp_path):
    import json

    from dagster_versioned.pps.spec import load_spec_file

    path = tmp_path / "scraper.json"
    path.write_text(
        json.dumps(
            {
                "pipeline": {"name": "scraper"},
                "input": {"cron": {"name": "tick", "spec": "@every 1h", "overwrite": True}},
                "transform": {"cmd": ["python3", "/scraper.py"]},
            }
        )
    )
    (tick,) = cron_inputs(load_spec_file(path).input)
    assert (tick.repo, tick.overwrite) == ("scraper_tick", True)
