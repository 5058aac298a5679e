"""Batch normalization with a fused training path."""

import keras
import tensorflow as tf


def _replicas_in_sync():
    context = tf.distribute.get_replica_context()
    if context is not None:
        return context.num_replicas_in_sync
    return tf.distribute.get_strategy().num_replicas_in_sync


@keras.saving.register_keras_serializable(package="ssl_tf")
class BatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` that trains with one fused kernel.

    Keras 3's TensorFlow backend normalizes with separate moment, subtract,
    multiply and add ops (and, with `synchronized=True`, through the
    `E[x^2] - E[x]^2` all-reduce path even on one replica), and upcasts
    bfloat16 activations to float32 around them. In training, when the
    batch statistics are this replica's own (one replica, or
    `synchronized=False`), this layer calls `FusedBatchNormV3` instead:
    one pass over the activations in their own dtype, statistics in
    float32. With several replicas and `synchronized=True` it falls back
    to the parent's cross-replica path, so a 2-replica step still equals a
    1-device step. Inference is the parent's.

    The arithmetic is the parent's: the output uses the biased batch
    variance, and so does the moving-variance update (the fused kernel
    returns the unbiased one, which is rescaled by `(n - 1) / n`).
    Variables, their names and the config are the parent's, so
    checkpoints and `.keras` files of either class load into the other.

    Args:
        **kwargs: those of `keras.layers.BatchNormalization`.
    """

    def _fused_applies(self, inputs, training, mask):
        if not (training and self.trainable) or mask is not None:
            return False
        if self.renorm or inputs.shape.rank not in (2, 4):
            return False
        if self.axis not in (-1, inputs.shape.rank - 1):
            return False
        return not self.synchronized or _replicas_in_sync() == 1

    def call(self, inputs, training=None, mask=None):
        inputs = tf.convert_to_tensor(inputs)
        if not self._fused_applies(inputs, training, mask):
            return super().call(inputs, training=training, mask=mask)
        x = inputs
        if x.shape.rank == 2:
            x = x[:, None, None, :]
        if x.dtype not in (tf.float32, tf.bfloat16, tf.float16):
            x = tf.cast(x, tf.float32)
        channels = tf.shape(x)[-1]
        gamma = self.gamma if self.scale else tf.ones(channels)
        beta = self.beta if self.center else tf.zeros(channels)
        y, mean, unbiased = tf.compat.v1.nn.fused_batch_norm(
            x,
            tf.cast(gamma, tf.float32),
            tf.cast(beta, tf.float32),
            epsilon=self.epsilon,
            is_training=True,
        )
        count = tf.cast(tf.size(x) // channels, tf.float32)
        # One value per channel has a biased variance of 0 (the unbiased
        # one is undefined).
        variance = tf.where(count > 1.0, unbiased * (count - 1.0) / count, 0.0)
        momentum = self.momentum
        self.moving_mean.assign(
            self.moving_mean * momentum + mean * (1.0 - momentum)
        )
        self.moving_variance.assign(
            self.moving_variance * momentum + variance * (1.0 - momentum)
        )
        if inputs.shape.rank == 2:
            y = y[:, 0, 0, :]
        return tf.cast(y, self.compute_dtype)
