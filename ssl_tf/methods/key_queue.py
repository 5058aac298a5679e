"""MoCo's queue of negative keys: a FIFO of L2-normalized rows."""

import keras
import tensorflow as tf


def enqueue(queue, pointer, keys):
    """Writes `keys` into the FIFO `queue` at `pointer`, wrapping around.

    The oldest rows are overwritten; the result is the same as enqueueing
    the keys one by one (if there are more keys than rows, only the last
    `len(queue)` remain).

    Args:
        queue: `(K, d)` variable.
        pointer: int32 scalar variable, the row the next key goes to.
        keys: `(n, d)` keys, oldest first.
    """
    size = tf.shape(queue)[0]
    n = tf.shape(keys)[0]
    start = tf.maximum(n - size, 0)
    rows = tf.math.floormod(pointer + start + tf.range(n - start), size)
    updated = tf.tensor_scatter_nd_update(
        tf.convert_to_tensor(queue),
        rows[:, None],
        tf.cast(keys[start:], queue.dtype),
    )
    queue.assign(updated)
    pointer.assign(tf.math.floormod(pointer + n, size))


def random_unit_rows(seed):
    """An initializer of seeded random L2-normalized rows (the first keys)."""

    def initializer(shape, dtype=None):
        rows = keras.random.normal(shape, seed=seed, dtype="float32")
        return tf.cast(tf.math.l2_normalize(rows, axis=1), dtype or "float32")

    return initializer
