"""Heads on top of the encoder: the SSL projection MLP, a linear classifier."""

from __future__ import annotations

import keras

from ssl_tf.models.batch_norm import BatchNormalization

# Heads compute in float32 under a mixed-precision policy (unless given a
# `dtype`): they are a sliver of the step's FLOPs, and the contrastive
# logits at T = 0.1 need more than bfloat16's 8 bits of mantissa.


def _glorot(seed, index):
    # A seeded initializer repeats its values, so each layer gets its own.
    return keras.initializers.GlorotUniform(
        seed=None if seed is None else seed + index
    )


@keras.saving.register_keras_serializable(package="ssl_tf")
class ProjectionHead(keras.layers.Layer):
    """MLP that maps embeddings to the space where the SSL loss is computed.

    Follows SimCLR v2: every hidden layer is Dense (no bias) -> BN -> ReLU;
    the last layer is Dense (no bias) -> BN without a learned offset
    (`center=False`) and without ReLU. `units=(512, 128)` is SimCLR v1's
    2-layer head, `(512, 512, 128)` SimCLR v2's 3-layer head. With
    `final_batch_norm=False` the last layer is a plain Dense with a bias,
    as in MoCo v2.

    Batch norms are synchronized across replicas (`synchronized=True`) so
    that a multi-replica step uses the statistics of the global batch.

    Args:
        units: Tuple of integers. Output sizes of the layers; the last one
            is the projection size.
        final_batch_norm: Boolean. Whether the last Dense is followed by a
            batch norm.
        seed: Integer. Seed for the kernel initializers; layer `i` uses
            `seed + i`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Reference:
     - [Chen et al., 2020](https://arxiv.org/abs/2006.10029) (SimCLR v2)

    Example:
    >>> head = ProjectionHead(units=(16, 8), seed=0)
    >>> head(np.zeros((4, 32))).shape
    TensorShape([4, 8])
    """

    def __init__(self, units, final_batch_norm=True, seed=None, **kwargs):
        super().__init__(**{"dtype": "float32", **kwargs})
        units = tuple(int(u) for u in units)
        if not units or min(units) < 1:
            raise ValueError(
                "`units` must be a non-empty tuple of positive integers. "
                f"Received: units={units}"
            )
        self.units = units
        self.final_batch_norm = final_batch_norm
        self.seed = seed
        self.dense_layers = []
        self.batch_norms = []
        for index, size in enumerate(units):
            last = index == len(units) - 1
            use_batch_norm = final_batch_norm or not last
            self.dense_layers.append(
                keras.layers.Dense(
                    size,
                    # The bias is redundant before a batch norm.
                    use_bias=not use_batch_norm,
                    kernel_initializer=_glorot(seed, index),
                    dtype=self.dtype_policy,
                    name=f"dense_{index}",
                )
            )
            self.batch_norms.append(
                BatchNormalization(
                    synchronized=True,
                    momentum=0.9,
                    epsilon=1e-5,
                    center=not last,
                    dtype=self.dtype_policy,
                    name=f"batch_norm_{index}",
                )
                if use_batch_norm
                else None
            )

    def build(self, input_shape):
        shape = tuple(input_shape)
        for dense, batch_norm in zip(
            self.dense_layers, self.batch_norms, strict=True
        ):
            dense.build(shape)
            shape = dense.compute_output_shape(shape)
            if batch_norm is not None:
                batch_norm.build(shape)

    def call(self, inputs, training=None):
        return self.layer_outputs(inputs, training=training)[-1]

    def layer_outputs(self, inputs, training=None):
        """The output of every layer (after its ReLU); the last is `call`'s.

        Works on symbolic inputs too: `keras.Model(features,
        head.layer_outputs(features)[k])` is the first `k + 1` layers
        (SimCLR's Figure 8 evaluates each of them).
        """
        x, outputs = inputs, []
        last = len(self.dense_layers) - 1
        for index, (dense, batch_norm) in enumerate(
            zip(self.dense_layers, self.batch_norms, strict=True)
        ):
            x = dense(x)
            if batch_norm is not None:
                x = batch_norm(x, training=training)
            if index < last:
                x = keras.activations.relu(x)
            outputs.append(x)
        return outputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (self.units[-1],)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "final_batch_norm": self.final_batch_norm,
            "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package="ssl_tf")
class ClassificationHead(keras.layers.Layer):
    """Linear classifier that returns logits (no softmax).

    Used for linear evaluation and fine-tuning on top of the embeddings.

    Args:
        num_classes: Integer. Number of classes.
        seed: Integer. Seed for the kernel initializer.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Example:
    >>> head = ClassificationHead(num_classes=10, seed=0)
    >>> head(np.zeros((4, 32))).shape
    TensorShape([4, 10])
    """

    def __init__(self, num_classes, seed=None, **kwargs):
        super().__init__(**{"dtype": "float32", **kwargs})
        if int(num_classes) < 1:
            raise ValueError(
                "`num_classes` must be a positive integer. "
                f"Received: num_classes={num_classes}"
            )
        self.num_classes = int(num_classes)
        self.seed = seed
        self.dense = keras.layers.Dense(
            self.num_classes,
            kernel_initializer=_glorot(seed, 0),
            dtype=self.dtype_policy,
            name="logits",
        )

    def build(self, input_shape):
        self.dense.build(input_shape)

    def call(self, inputs):
        return self.dense(inputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (self.num_classes,)

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "seed": self.seed,
        }
