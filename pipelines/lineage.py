"""What `ssl-tf pipeline list` and `show` print, read from the metadata.

`show` lists each execution of a run with its inputs and outputs (ids and
URIs), then, for every PushedModel the run produced or reused, walks the
producer links back to the data: which Examples (with their fingerprint),
parameters (the config) and executions made it.
"""

from __future__ import annotations

import datetime
import json

from pipelines.metadata import MetadataStore

_SHOWN_PROPERTIES = (
    "fingerprint",
    "blessed",
    "reason",
    "pushed",
    "destination",
    "version",
)
_MAX_VALUE = 160  # Characters of a parameter shown (configs are long).


def _time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    moment = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _duration(record) -> str:
    if record["ended"] is None:
        return "-"
    return f"{record['ended'] - record['started']:.1f}s"


def list_runs(store: MetadataStore) -> list[str]:
    """One line per run: id, pipeline, state, start (UTC), duration,
    executions run and cached."""
    lines = []
    for run in store.runs():
        states = [e["state"] for e in store.executions(run["id"])]
        lines.append(
            f"{run['id']:>4}  {run['pipeline_name']:<16} {run['state']:<9} "
            f"{_time(run['started'])}  {_duration(run):>8}  "
            f"{states.count('complete')} run, {states.count('cached')} cached"
        )
    return lines


def _artifact(store, artifact_id) -> str:
    artifact = store.artifact(artifact_id)
    shown = {
        key: artifact.properties[key]
        for key in _SHOWN_PROPERTIES
        if key in artifact.properties
    }
    extra = " " + json.dumps(shown, sort_keys=True) if shown else ""
    return (
        f"{artifact.TYPE_NAME} #{artifact.id} [{artifact.state}] "
        f"{artifact.uri}{extra}"
    )


def _short(value) -> str:
    text = str(value)
    if len(text) <= _MAX_VALUE:
        return text
    return f"{text[:_MAX_VALUE]}... ({len(text)} characters)"


def _parameters(execution) -> str:
    return ", ".join(
        f"{key}={_short(value)}"
        for key, value in sorted(execution["parameters"].items())
    )


def show_run(store: MetadataStore, run_id: int | None = None) -> list[str]:
    """The executions of `run_id` (default: the newest run), then the
    lineage of its pushed models."""
    runs = {run["id"]: run for run in store.runs()}
    if not runs:
        raise ValueError(f"No pipeline runs recorded in {store.path}.")
    run_id = max(runs) if run_id is None else run_id
    if run_id not in runs:
        raise ValueError(
            f"No run {run_id} in {store.path}. Runs: {sorted(runs)}"
        )
    run = runs[run_id]
    lines = [
        f"Run {run_id} of {run['pipeline_name']}: {run['state']}, started "
        f"{_time(run['started'])}, {_duration(run)}"
    ]
    pushed = []
    for execution in store.executions(run_id):
        lines.append(
            f"  execution #{execution['id']} {execution['component_id']} "
            f"({execution['type']}) {execution['state']} "
            f"{_duration(execution)}  code {execution['code_version']}"
        )
        if execution["error"]:
            lines.append(f"    error: {execution['error']}")
        for direction in ("inputs", "outputs"):
            for key, artifact_id in sorted(execution[direction].items()):
                arrow = "in " if direction == "inputs" else "out"
                lines.append(
                    f"    {arrow} {key}: {_artifact(store, artifact_id)}"
                )
                if store.artifact(artifact_id).TYPE_NAME == "PushedModel":
                    pushed.append(artifact_id)
    for artifact_id in dict.fromkeys(pushed):
        lines += ["Lineage:", *lineage(store, artifact_id)]
    return lines


def lineage(store: MetadataStore, artifact_id: int, depth=1, seen=None):
    """The artifact, its producer, and recursively the producer's inputs
    (an artifact already shown above is named, not walked again)."""
    seen = set() if seen is None else seen
    indent = "  " * depth
    lines = [f"{indent}{_artifact(store, artifact_id)}"]
    producer = store.artifact(artifact_id).producer
    if artifact_id in seen or producer is None:
        return lines[:1] if producer is None else [lines[0] + " (see above)"]
    seen.add(artifact_id)
    execution = store.execution(producer)
    lines.append(
        f"{indent}  <- {execution['component_id']} execution #{producer} "
        f"(run {execution['run_id']}) {_parameters(execution)}".rstrip()
    )
    for key, input_id in sorted(execution["inputs"].items()):
        lines.append(f"{indent}     {key}:")
        lines += lineage(store, input_id, depth + 3, seen)
    return lines
