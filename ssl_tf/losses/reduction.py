"""Reducing per-example losses the way a Keras loss does under tf.distribute."""

import tensorflow as tf


def global_batch_mean(per_example):
    """This replica's share of the mean loss over the global batch.

    What a `keras.losses.Loss` with the default `sum_over_batch_size`
    reduction returns for per-example values `(n,)`: their mean, divided
    by the number of replicas (Keras sums the replicas' gradients, so the
    sum over replicas is the global mean). For methods that compute the
    per-example values themselves, to share them with a metric instead of
    computing the loss twice.
    """
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    mean = tf.reduce_mean(per_example)
    if replicas == 1:
        return mean
    return mean / tf.cast(replicas, mean.dtype)
