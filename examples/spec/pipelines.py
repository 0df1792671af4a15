"""A Pachyderm pipeline spec, loaded unchanged: its ``transform.cmd`` is a shell loop."""

from __future__ import annotations

from pathlib import Path

from dagster_versioned import pipeline_from_spec

wordcount = pipeline_from_spec(Path(__file__).with_name("wordcount.json"), group_name="spec")

PIPELINES = [wordcount]
