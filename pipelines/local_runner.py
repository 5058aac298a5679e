"""`LocalDagRunner`: runs a pipeline's components on this machine, cached.

For each node in topological order the runner:

1. resolves its inputs from the nodes before it (a resolver node, such as
   `LatestBlessedModel`, resolves its output from the metadata store);
2. computes its cache key (`pipelines.cache`) and, when a complete
   execution with that key left live outputs that still exist, records a
   `cached` execution and reuses them;
3. otherwise records a `running` execution and pending outputs under
   `<pipeline_root>/<component>/<output>/<short cache key>`, runs the
   executor and marks them `complete`/live, or `failed` and raises. While
   another runner of the same root runs that key (same directories), it
   waits for it instead.

Output directories are stable per cache key: when a run is killed or fails,
the next run (which first marks the dead run's executions failed) executes
the same node into the same directories, so Pretrain finds its checkpoints
and resumes. Records go to `pipelines.metadata.MetadataStore`.

Each node prints one progress line: name, state, seconds, cached or run,
output URIs.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import tensorflow as tf  # gfile only: the root may be gs://.

from components import Artifact, BaseComponent
from pipelines import cache
from pipelines.metadata import MetadataStore
from pipelines.pipeline import Pipeline
from pipelines.resolver import Resolver

Outputs = dict[str, Artifact | None]


class LocalDagRunner:
    """Runs a `Pipeline` in topological order, skipping cached nodes.

    Beam components get a `beam.Pipeline` built from the pipeline's
    `beam_pipeline_args`, so DirectRunner here can be swapped for Dataflow,
    Flink or Spark by flags alone.

    Args:
        progress: called with one line per component; None is silent.
        poll_seconds: how often to look again while another runner of the
            same root executes a node with the same cache key.
    """

    def __init__(
        self,
        progress: Callable[[str], None] | None = print,
        poll_seconds: float = 1.0,
    ):
        self.progress = progress
        self.poll_seconds = poll_seconds
        self.run_id: int | None = None  # Of the last `run`.

    def run(self, pipeline: Pipeline) -> dict[str, Outputs]:
        """Runs every node; returns component id -> output artifacts (an
        output a resolver found nothing for is None)."""
        store = MetadataStore(pipeline.pipeline_root)
        try:
            store.fail_stale_runs()
            run_id = self.run_id = store.start_run(pipeline.pipeline_name)
            try:
                produced = self._run_nodes(pipeline, store, run_id)
            except BaseException:
                store.end_run(run_id, "failed")
                raise
            store.end_run(run_id, "complete")
        finally:
            store.close()
        return produced

    def _run_nodes(self, pipeline, store, run_id) -> dict[str, Outputs]:
        produced: dict[str, Outputs] = {}
        for node in pipeline.components:
            inputs = _inputs(node, produced)
            started = time.perf_counter()
            if isinstance(node, Resolver):
                outputs = node.resolve(store, pipeline.pipeline_name, inputs)
                self._record(store, run_id, node, None, inputs, outputs)
                self._report(node, "complete", started, "resolved", outputs)
            else:
                outputs = self._execute(node, inputs, pipeline, store, run_id)
            produced[node.id] = outputs
        return produced

    def _execute(self, node, inputs, pipeline, store, run_id) -> Outputs:
        started = time.perf_counter()
        key = cache.cache_key(node, inputs, cache.code_version())
        execution_id, outputs = self._claim(
            node, inputs, key, pipeline, store, run_id
        )
        if execution_id is None:
            self._report(node, "complete", started, "cached", outputs)
            return outputs
        try:
            node.execute(
                {k: a for k, a in inputs.items() if a is not None},
                outputs,
                pipeline.beam_pipeline_args,
            )
            _check_outputs(node, outputs)
        except BaseException as error:
            store.finish_execution(
                execution_id,
                "failed",
                outputs,
                error=f"{type(error).__name__}: {error}",
            )
            self._report(node, "failed", started, "run", outputs)
            raise
        store.finish_execution(execution_id, "complete", outputs)
        self._report(node, "complete", started, "run", outputs)
        return outputs

    def _claim(self, node, inputs, key, pipeline, store, run_id):
        """`(None, reused outputs)` from the cache, else `(execution id,
        new outputs)` once no other runner is executing the same key."""
        waited = False
        while True:
            reused = _reusable_outputs(store, key)
            if reused is not None:
                self._record(store, run_id, node, key, inputs, reused)
                return None, reused
            outputs = _new_outputs(node, key, pipeline.pipeline_root)
            execution_id = store.start_execution(
                run_id, node, key, cache.code_version(), inputs, outputs
            )
            if execution_id is not None:
                return execution_id, outputs
            # Another runner writes these very directories: wait for it to
            # finish (or die), then reuse its outputs or take over.
            if self.progress is not None and not waited:
                self.progress(f"{node.id:<22} waiting  another runner has it")
            waited = True
            time.sleep(self.poll_seconds)
            store.fail_stale_runs()

    @staticmethod
    def _record(store, run_id, node, key, inputs, outputs) -> None:
        """An execution that reuses artifacts (cached, or resolved)."""
        state = "complete" if key is None else "cached"
        execution_id = store.start_execution(
            run_id, node, key, cache.code_version(), inputs, outputs, state
        )
        store.finish_execution(execution_id, state, outputs)

    def _report(self, node, state, started, how, outputs) -> None:
        if self.progress is None:
            return
        uris = " ".join("-" if a is None else a.uri for a in outputs.values())
        seconds = time.perf_counter() - started
        self.progress(
            f"{node.id:<22} {state:<8} {seconds:7.1f}s  {how:<8} {uris}"
        )


def _inputs(node: BaseComponent, produced) -> Outputs:
    """The node's input artifacts; a resolver may have found none, which
    only an optional input (default None) accepts."""
    inputs = {}
    for key, channel in node.inputs.items():
        artifact = produced[channel.producer.id][channel.key]
        if artifact is None and key not in node.SPEC.defaults:
            raise ValueError(
                f"{node.id}.{key} is required, but {channel.producer.id} "
                f"found no {channel.type.TYPE_NAME}. Give it a default of "
                "None to make it optional."
            )
        inputs[key] = artifact
    return inputs


def _reusable_outputs(store: MetadataStore, key: str) -> Outputs | None:
    """Outputs of the last complete execution with `key`, if every one is
    live and still exists (an output deleted by hand is made again)."""
    execution = store.last_complete(key)
    if execution is None:
        return None
    outputs = {
        name: store.artifact(artifact_id)
        for name, artifact_id in execution["outputs"].items()
    }
    for artifact in outputs.values():
        if artifact.state != "live" or not tf.io.gfile.exists(artifact.uri):
            return None
    return outputs


def _new_outputs(node: BaseComponent, key: str, root: str) -> Outputs:
    """Pending artifacts in directories named by the cache key."""
    outputs = {}
    for name, artifact_type in node.SPEC.outputs.items():
        short = key[: cache.SHORT_KEY]
        uri = "/".join([root.rstrip("/"), node.id, name, short])
        tf.io.gfile.makedirs(uri)
        outputs[name] = artifact_type(uri)
    return outputs


def _check_outputs(node: BaseComponent, outputs: Outputs) -> None:
    for key, artifact in outputs.items():
        if not (
            tf.io.gfile.isdir(artifact.uri)
            and tf.io.gfile.listdir(artifact.uri)
        ):
            raise RuntimeError(
                f"{node.id} did not write its output {key!r} "
                f"({artifact.TYPE_NAME}) to {artifact.uri}."
            )
