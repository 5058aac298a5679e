"""`LocalDagRunner`: runs a pipeline's components in order, in this process.

Every execution gets the next integer id of the pipeline root, and each
output artifact the directory `<pipeline_root>/<component>/<output>/<id>`
(the TFX layout). What went in and out of each execution is appended to
`<pipeline_root>/metadata.json`, a small stand-in for ML Metadata:

    {"pipeline_name": ..., "executions": [{"id": 3, "component": "Pretrain",
     "state": "complete", "inputs": {...}, "outputs": {...},
     "exec_properties": {...}, "start_time": ..., "end_time": ...}]}

A run fails loudly: an executor's exception, or an output directory left
missing or empty, marks the execution `failed` and raises.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time

from components import Artifact, BaseComponent
from pipelines.pipeline import Pipeline

logger = logging.getLogger("pipelines")

METADATA_FILE = "metadata.json"


class MetadataStore:
    """Executions and their artifacts, in one JSON file."""

    def __init__(self, pipeline_root: str, pipeline_name: str):
        self.path = os.path.join(pipeline_root, METADATA_FILE)
        self.pipeline_name = pipeline_name

    def read(self) -> dict:
        if not os.path.exists(self.path):
            return {"pipeline_name": self.pipeline_name, "executions": []}
        with open(self.path) as handle:
            return json.load(handle)

    def next_execution_id(self) -> int:
        return len(self.read()["executions"]) + 1

    def put_execution(self, execution: dict) -> None:
        store = self.read()
        executions = [
            e for e in store["executions"] if e["id"] != execution["id"]
        ]
        store["executions"] = sorted(
            [*executions, execution], key=lambda e: e["id"]
        )
        directory = os.path.dirname(self.path)
        os.makedirs(directory, exist_ok=True)
        # Write then rename: a crash never leaves half a metadata file.
        handle, staging = tempfile.mkstemp(dir=directory, suffix=".json")
        with os.fdopen(handle, "w") as stream:
            json.dump(store, stream, indent=2, sort_keys=True, default=str)
        os.replace(staging, self.path)


def _describe(artifacts: dict[str, Artifact]) -> dict:
    return {key: artifact.to_dict() for key, artifact in artifacts.items()}


class LocalDagRunner:
    """Runs a `Pipeline` in order on this machine.

    Beam components get a `beam.Pipeline` built from the pipeline's
    `beam_pipeline_args`, so DirectRunner here can be swapped for Dataflow,
    Flink or Spark by flags alone.
    """

    def run(self, pipeline: Pipeline) -> dict[str, dict[str, Artifact]]:
        """Runs every component; returns component id -> output artifacts."""
        store = MetadataStore(pipeline.pipeline_root, pipeline.pipeline_name)
        produced: dict[str, dict[str, Artifact]] = {}
        for node in pipeline.components:
            inputs = {
                key: produced[channel.producer.id][channel.key]
                for key, channel in node.inputs.items()
            }
            produced[node.id] = self._execute(node, inputs, pipeline, store)
        return produced

    def _execute(self, node: BaseComponent, inputs, pipeline, store):
        execution_id = store.next_execution_id()
        outputs = {}
        for key, artifact_type in node.SPEC.outputs.items():
            uri = os.path.join(
                pipeline.pipeline_root, node.id, key, str(execution_id)
            )
            os.makedirs(uri, exist_ok=True)
            outputs[key] = artifact_type(uri)
        record = {
            "id": execution_id,
            "pipeline_name": pipeline.pipeline_name,
            "component": node.id,
            "component_type": type(node).__name__,
            "exec_properties": node.exec_properties,
            "inputs": _describe(inputs),
            "state": "running",
            "start_time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        store.put_execution(record)
        logger.info("Running %s (execution %d).", node.id, execution_id)
        started = time.perf_counter()
        try:
            node.execute(inputs, outputs, pipeline.beam_pipeline_args)
            self._check_outputs(node, outputs)
        except BaseException as error:
            record.update(
                state="failed",
                error=f"{type(error).__name__}: {error}",
                outputs=_describe(outputs),
            )
            store.put_execution(record)
            raise
        record.update(
            state="complete",
            outputs=_describe(outputs),
            end_time=time.strftime("%Y-%m-%dT%H:%M:%S"),
            wall_time_s=time.perf_counter() - started,
        )
        store.put_execution(record)
        return outputs

    @staticmethod
    def _check_outputs(node, outputs):
        for key, artifact in outputs.items():
            if not os.path.isdir(artifact.uri) or not os.listdir(artifact.uri):
                raise RuntimeError(
                    f"{node.id} did not write its output {key!r} "
                    f"({artifact.TYPE_NAME}) to {artifact.uri}."
                )
