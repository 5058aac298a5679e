"""Choosing a `tf.distribute` strategy."""

import json
import logging
import os

import tensorflow as tf

from ssl_tf.config import ConfigError

logger = logging.getLogger("ssl_tf.training")


def _tpu_strategy():
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, tf.errors.NotFoundError, RuntimeError):
        return None
    return tf.distribute.TPUStrategy(resolver)


def _check_tf_config(name):
    """Raises a ConfigError unless `TF_CONFIG` describes a usable cluster.

    Checked before the strategy starts its server, so a missing or
    malformed variable fails with a message instead of a hang or a gRPC
    error on every host.
    """
    text = os.environ.get("TF_CONFIG")
    example = (
        '\'{"cluster": {"worker": ["host1:2222", "host2:2222"]}, '
        '"task": {"type": "worker", "index": 0}}\' on the first host'
    )
    prefix = f"`train.strategy={name!r}` needs"
    if not text:
        raise ConfigError(
            f"{prefix} the TF_CONFIG environment variable, e.g. {example}."
        )
    try:
        tf_config = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(
            f"{prefix} TF_CONFIG to be JSON ({error}). Received: "
            f"TF_CONFIG={text!r}"
        ) from None
    if not _names_its_task(tf_config):
        raise ConfigError(
            f"{prefix} TF_CONFIG to list the `cluster.worker` addresses and "
            f"name this host's `task` in them, e.g. {example}. Received: "
            f"TF_CONFIG={text!r}"
        )


def _names_its_task(tf_config) -> bool:
    """Whether a parsed TF_CONFIG has workers and a task among them."""
    if not isinstance(tf_config, dict):
        return False
    cluster, task = tf_config.get("cluster"), tf_config.get("task")
    if not (isinstance(cluster, dict) and isinstance(task, dict)):
        return False
    if not (isinstance(cluster.get("worker"), list) and cluster["worker"]):
        return False
    tasks, index = cluster.get(task.get("type")), task.get("index")
    return (
        isinstance(tasks, list)
        and isinstance(index, int)
        and 0 <= index < len(tasks)
    )


def _multi_worker_strategy(name):
    _check_tf_config(name)
    # AUTO: NCCL between GPUs, ring all-reduce over gRPC on CPU hosts.
    communication = tf.distribute.experimental.CommunicationOptions(
        implementation=tf.distribute.experimental.CommunicationImplementation.AUTO
    )
    return tf.distribute.MultiWorkerMirroredStrategy(
        communication_options=communication
    )


def writes_files(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run's files.

    One process writes a run's checkpoints, records, TensorBoard logs and
    export: the chief of a `MultiWorkerMirroredStrategy` cluster (its
    `chief` task, or worker 0 when `TF_CONFIG` names none), and the only
    process under every other strategy. Two hosts writing one checkpoint
    to shared storage would race; so the other workers still take part in
    each save (reading a distributed variable may be a collective that
    every worker must join) but write to a local scratch directory that
    they delete, as TensorFlow's multi-worker guide does.
    """
    return bool(strategy.extended.should_checkpoint)


def make_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """A strategy by name.

    `auto`: TPU if a resolver finds one, `MirroredStrategy` over all GPUs
    when there are several, else the default (one device). `cpu:N`:
    `MirroredStrategy` over the first N logical CPU devices (they must have
    been configured before TensorFlow initialised; tests do this).
    `multi_worker_mirrored`: `MultiWorkerMirroredStrategy` over the
    workers of `TF_CONFIG` (every host runs the same command with its own
    `task.index`; create it before any other TensorFlow op runs).

    Raises:
        ConfigError: (a `ValueError`) for `tpu` without a TPU, `cpu:N`
            with fewer than N logical CPU devices, or
            `multi_worker_mirrored` without a usable `TF_CONFIG`.
    """
    if name == "tpu":
        strategy = _tpu_strategy()
        if strategy is None:
            raise ConfigError("`train.strategy='tpu'` but no TPU was found.")
        return strategy
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker_mirrored":
        return _multi_worker_strategy(name)
    if name.startswith("cpu:"):
        count = int(name.split(":", 1)[1])
        cpus = tf.config.list_logical_devices("CPU")
        if len(cpus) < count:
            raise ConfigError(
                f"`train.strategy={name!r}` needs {count} logical CPU devices; "
                f"{len(cpus)} are configured."
            )
        return tf.distribute.MirroredStrategy([d.name for d in cpus[:count]])
    if name == "auto":
        strategy = _tpu_strategy()
        if strategy is not None:
            return strategy
        if len(tf.config.list_logical_devices("GPU")) > 1:
            return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()
