"""Seeds for augmentation that are a pure function of (run seed, step).

Keras random layers draw from a stateful `SeedGenerator`. Inside `tf.data`
with prefetching, that state runs ahead of training, so it cannot be
checkpointed exactly. Instead every batch gets its own stateless seed derived
from the run seed and the batch's global index: a resumed run recomputes the
same augmentations for the same steps, and host and device placement can use
the same rule.
"""

import keras
import tensorflow as tf


def batch_seed(seed, index):
    """An int32 `(2,)` stateless seed for batch number `index`."""
    base = tf.stack([tf.cast(seed, tf.int64), tf.constant(0x5EED, tf.int64)])
    mixed = tf.random.experimental.stateless_fold_in(
        base, tf.cast(index, tf.int64)
    )
    return tf.cast(tf.math.floormod(mixed, tf.int32.max - 1), tf.int32)


class StatelessSeed(keras.random.SeedGenerator):
    """Stands in for a `SeedGenerator`, drawing from a fixed seed tensor.

    Each `next()` folds a trace-time counter into the seed, so successive
    draws within one call are independent, and the same seed tensor always
    reproduces the same sequence. It holds no variable (the parent's
    constructor, which creates one, is deliberately not called).
    """

    def __init__(self, seed):  # noqa: super().__init__ would make a variable
        self._base = tf.cast(seed, tf.int32)
        self._count = 0

    def next(self, ordered=True):
        del ordered
        self._count += 1
        return tf.random.experimental.stateless_fold_in(self._base, self._count)


def seed_source(layer, seed):
    """`StatelessSeed(seed)`, or the layer's own generator when seed is None."""
    if seed is None:
        return getattr(layer, "generator", None)
    return StatelessSeed(seed)


def derive(seed, salt):
    """An independent seed for sub-step `salt` (None stays None)."""
    if seed is None:
        return None
    return tf.random.experimental.stateless_fold_in(
        tf.cast(seed, tf.int32), salt
    )


def apply_random(layer, images, seed):
    """Calls a Keras image layer with randomness drawn from `seed`.

    Uses the layer's public two-step API (draw a transformation, apply it)
    so `seed` can be a `StatelessSeed` instead of the layer's generator.
    """
    transformation = layer.get_random_transformation(
        images, training=True, seed=seed
    )
    return layer.transform_images(images, transformation, training=True)
