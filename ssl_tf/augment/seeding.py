"""Seeds for augmentation that are a pure function of (run seed, step, row).

Keras random layers draw from a stateful `SeedGenerator`. Inside `tf.data`
with prefetching, that state runs ahead of training, so it cannot be
checkpointed exactly. Instead every batch gets its own stateless seed derived
from the run seed and the batch's global index: a resumed run recomputes the
same augmentations for the same steps, and host and device placement can use
the same rule.

Per-image parameters also depend on the image's row in the *global* batch.
Under a distribution strategy each replica augments only its slice of the
batch; `RowSeed` tells the layers where that slice sits, and every draw
samples the whole global batch and keeps the replica's rows. Row `g` thus
gets the same crop, flip and jitter on one device and on N replicas, and
replicas never repeat each other's augmentations.
"""

import dataclasses

import keras
import tensorflow as tf

# Every stateless draw names its algorithm rather than leaving it to
# "auto_select", which may pick another one under XLA or on a TPU.
ALGORITHM = "philox"


def batch_seed(seed, index):
    """An int32 `(2,)` stateless seed for batch number `index`."""
    base = tf.stack([tf.cast(seed, tf.int64), tf.constant(0x5EED, tf.int64)])
    mixed = tf.random.experimental.stateless_fold_in(
        base, tf.cast(index, tf.int64), alg=ALGORITHM
    )
    return tf.cast(tf.math.floormod(mixed, tf.int32.max - 1), tf.int32)


@dataclasses.dataclass(frozen=True)
class RowSeed:
    """A batch seed for replica `replica`'s slice of a global batch.

    The global batch is split into `replicas` equal contiguous slices in
    replica order, which is how `tf.distribute` strategies rebatch a
    dataset; the local batch size comes from the images at the first draw.
    Pass it as `seed=` wherever a `(2,)` seed tensor is accepted.

    Args:
        seed: int32 `(2,)` tensor, the seed of the whole global batch.
        replica: int32 scalar, this slice's position.
        replicas: Integer, the number of slices.
    """

    seed: tf.Tensor
    replica: tf.Tensor
    replicas: int

    def rows(self, batch_size):
        """`(offset, total)`: the first global row and the global size."""
        batch_size = tf.cast(batch_size, tf.int32)
        return tf.cast(self.replica, tf.int32) * batch_size, (
            self.replicas * batch_size
        )


def replica_seed(seed):
    """`seed` as a `RowSeed` for this replica's slice of the global batch.

    Call it in a replica context (e.g. `train_step`); on one replica the
    seed is returned unchanged.
    """
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return seed
    return RowSeed(
        seed, context.replica_id_in_sync_group, context.num_replicas_in_sync
    )


class StatelessSeed(keras.random.SeedGenerator):
    """Stands in for a `SeedGenerator`, drawing from a fixed seed tensor.

    Each `next()` folds a trace-time counter into the seed, so successive
    draws within one call are independent, and the same seed tensor always
    reproduces the same sequence. It holds no variable (the parent's
    constructor, which creates one, is deliberately not called).

    Args:
        seed: int32 `(2,)` tensor, or a `RowSeed` whose rows then select
            the slice of each draw (see `uniform`).
    """

    def __init__(self, seed):
        # super().__init__ is not called: it would create a variable.
        self.rows = None
        if isinstance(seed, RowSeed):
            self.rows = seed
            seed = seed.seed
        self._base = tf.cast(seed, tf.int32)
        self._count = 0

    def next(self, ordered=True):
        del ordered
        self._count += 1
        return tf.random.experimental.stateless_fold_in(
            self._base, self._count, alg=ALGORITHM
        )


def seed_source(layer, seed):
    """`StatelessSeed(seed)`, or the layer's own generator when seed is None."""
    if seed is None:
        return getattr(layer, "generator", None)
    return StatelessSeed(seed)


def derive(seed, salt):
    """An independent seed for sub-step `salt` (None stays None)."""
    if seed is None:
        return None
    if isinstance(seed, RowSeed):
        return dataclasses.replace(seed, seed=derive(seed.seed, salt))
    return tf.random.experimental.stateless_fold_in(
        tf.cast(seed, tf.int32), salt, alg=ALGORITHM
    )


def uniform(generator, batch_size, shape=(), minval=0.0, maxval=1.0):
    """Per-image uniform draws of shape `(batch_size,) + shape`.

    `generator` is a `keras.random.SeedGenerator` or a `StatelessSeed`.
    From a `RowSeed`, the draw covers the whole global batch and image `i`
    gets the values of global row `offset + i`.
    """
    shape = tuple(shape)
    rows = getattr(generator, "rows", None)
    if rows is None:
        return _uniform(generator, (batch_size,) + shape, minval, maxval)
    offset, total = rows.rows(batch_size)
    values = _uniform(generator, (total,) + shape, minval, maxval)
    return values[offset : offset + batch_size]


def _uniform(generator, shape, minval, maxval):
    if not isinstance(generator, StatelessSeed):
        return keras.random.uniform(shape, minval, maxval, seed=generator)
    return stateless_uniform(shape, generator.next(), minval, maxval)


def stateless_uniform(shape, seed, minval=0.0, maxval=1.0):
    """float32 draws uniform in `[minval, maxval)`, equal with or without XLA.

    TensorFlow's float `stateless_uniform` kernel on CPU turns the random
    bits into floats differently from its XLA lowering, so a step compiled
    with XLA would draw other crops and colours from the same seed than
    the host pipeline. Drawing the 32-bit integers (which agree) and
    making the floats here (23 random mantissa bits, as both do) gives
    one result everywhere.
    """
    bits = tf.random.stateless_uniform(
        shape,
        seed=seed,
        minval=None,
        maxval=None,
        dtype=tf.uint32,
        alg=ALGORITHM,
    )
    mantissa = tf.bitwise.bitwise_or(
        tf.bitwise.right_shift(bits, 9), tf.constant(0x3F800000, tf.uint32)
    )
    unit = tf.bitcast(mantissa, tf.float32) - 1.0
    return minval + unit * (maxval - minval)


def coin(generator, batch_size, rate):
    """Per-image booleans, True with probability `rate`."""
    return uniform(generator, batch_size) < rate
