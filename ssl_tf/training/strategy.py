"""Choosing a `tf.distribute` strategy."""

import logging

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


def make_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """A strategy by name.

    `auto`: TPU if a resolver finds one, `MirroredStrategy` over all GPUs
    when there are several, else the default (one device). `cpu:N`:
    `MirroredStrategy` over the first N logical CPU devices (they must have
    been configured before TensorFlow initialised; tests do this).

    Raises:
        ConfigError: (a `ValueError`) for `tpu` without a TPU, or `cpu:N`
            with fewer than N logical CPU devices.
    """
    if name == "tpu":
        strategy = _tpu_strategy()
        if strategy is None:
            raise ConfigError("`train.strategy='tpu'` but no TPU was found.")
        return strategy
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
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
