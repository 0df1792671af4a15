"""Dagster Pipes for ``transform.cmd``: a command's logs and metadata reach the Dagster run.

A spec pipeline runs its command once per datum try, so each subprocess gets a Pipes session of
its own: the context (asset key, run id, and ``extras`` naming the pipeline, datum and job) is
written to a temporary file, messages come back through another, and both paths reach the
command in ``DAGSTER_PIPES_CONTEXT`` / ``DAGSTER_PIPES_MESSAGES`` next to its ``PFS_*``
variables. A command that calls ``dagster_pipes.open_dagster_pipes()`` can then ``log`` to the
run and ``report_asset_materialization(metadata=...)``; the asset merges that metadata into the
one materialisation of the job. A command that knows nothing of Pipes loses nothing: its
stdout and stderr are captured as before and written to the run's log and to the step's
stdout/stderr (the compute logs).

We build the session from Dagster's public parts (context injector, message reader, message
handler) rather than ``open_pipes_session`` because that helper warns on every session whose
process sent no Pipes message — one warning per datum of every plain shell pipeline.

(No ``from __future__ import annotations``: kept like the other Dagster-facing modules.)
"""

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
from dagster._core.pipes.context import build_external_execution_context_data
from dagster_pipes import (
    DAGSTER_PIPES_CONTEXT_ENV_VAR,
    DAGSTER_PIPES_MESSAGES_ENV_VAR,
    encode_param,
)

RunContext = dg.AssetExecutionContext | dg.OpExecutionContext


class PipesChannel:
    """A ``CommandChannel`` over Dagster Pipes, for the datums of one Dagster step.

    Example::

        channel = PipesChannel(context)
        job = run_job(store, spec, gid, channel=channel)
        return dg.MaterializeResult(metadata={**channel.reported_metadata(), **ours})
    """

    def __init__(self, context: RunContext) -> None:
        self.context = context
        self._base = build_external_execution_context_data(context, None)
        self._lock = threading.Lock()
        self._results: list[Any] = []

    @contextmanager
    def session(self, pipeline: str, datum_id: str, job_id: str) -> Iterator[dict[str, str]]:
        """One Pipes session around one subprocess; yields its bootstrap environment."""
        reader = dg.PipesTempFileMessageReader()
        handler = dg.PipesMessageHandler(self.context, reader)
        data = dict(self._base)
        data["extras"] = {"pipeline": pipeline, "datum_id": datum_id, "job_id": job_id}
        injector = dg.PipesTempFileContextInjector()
        with (
            injector.inject_context(data) as context_params,  # type: ignore[arg-type]
            handler.handle_messages() as message_params,
        ):
            yield {
                DAGSTER_PIPES_CONTEXT_ENV_VAR: encode_param(context_params),
                DAGSTER_PIPES_MESSAGES_ENV_VAR: encode_param(message_params),
            }
        # the reader thread has drained the message file when handle_messages exits
        with self._lock:
            self._results.extend(handler.get_reported_results())

    def output(self, pipeline: str, datum_id: str, stream: str, text: str) -> None:
        """Write the output to the step's stdout/stderr and each line to the run's log."""
        target = sys.stderr if stream == "stderr" else sys.stdout
        with self._lock:
            target.write(text if text.endswith("\n") else text + "\n")
            target.flush()
        for line in text.splitlines():
            self.context.log.info(f"{pipeline} {datum_id[:12]} [{stream}]: {line}")

    def reported_metadata(self) -> dict[str, Any]:
        """Metadata of every materialisation the commands reported, later datums winning."""
        merged: dict[str, Any] = {}
        with self._lock:
            for result in self._results:
                if isinstance(result, dg.MaterializeResult) and result.metadata:
                    merged.update(result.metadata)
        return merged
