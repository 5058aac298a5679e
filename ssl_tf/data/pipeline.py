"""Batched, augmented, resumable tf.data pipelines for pretraining.

Every batch has a global index `g = epoch * steps + step`, and everything
random about it (which images, which augmentations) is a pure function of
`(seed, g)`. A resumed run therefore sees exactly the batches an
uninterrupted run would have seen, without replaying the earlier ones.
"""

from __future__ import annotations

import functools
import logging

import numpy as np
import tensorflow as tf

from ssl_tf import augment
from ssl_tf.config import DataConfig
from ssl_tf.data.sources import DataError

logger = logging.getLogger("ssl_tf.data")

# Decoded datasets up to this size are held in memory and shuffled
# globally by index; larger ones stream through a shuffle buffer.
MAX_IN_MEMORY_BYTES = 1536 << 20


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
    steps = num_examples // batch_size
    if steps < 1:
        raise DataError(
            f"The dataset has {num_examples} images, fewer than one batch of "
            f"{batch_size}. Lower `train.batch_size`."
        )
    return steps


def holds_in_memory(info, image_size: int, cache: bool) -> bool:
    """Whether the decoded source is held in memory (else it is streamed).

    The one place that decides: `data.cache` is on and the decoded images
    fit in `MAX_IN_MEMORY_BYTES`.
    """
    bytes_needed = info.num_examples * image_size * image_size * 3
    return bool(cache) and bytes_needed <= MAX_IN_MEMORY_BYTES


def in_memory_arrays(source, info, image_size: int, cache: bool):
    """The source as NumPy arrays if `holds_in_memory`, else `None`."""
    if not holds_in_memory(info, image_size, cache):
        return None
    return materialize(source, info)


def materialize(source, info):
    """All elements of a decoded source as NumPy arrays (one pass)."""
    arrays = {}
    for batch in source.batch(1024).prefetch(2):
        for key, value in batch.items():
            arrays.setdefault(key, []).append(value.numpy())
    return {key: np.concatenate(parts) for key, parts in arrays.items()}


def _in_memory_batches(arrays, batch_size, steps, seed, first, last):
    """Batches `first..last-1` by global index, globally shuffled per epoch."""
    with tf.device("/cpu:0"):
        # Variables, not constants: keeps large arrays out of the graph.
        tensors = {
            key: tf.Variable(value, trainable=False, name=f"data_{key}")
            for key, value in arrays.items()
        }
    count = len(next(iter(arrays.values())))
    offsets = tf.range(batch_size, dtype=tf.int64)

    def make_batch(index):
        epoch, step = index // steps, index % steps
        # Modulo: a user-set `steps_per_epoch` may ask for more batches
        # than the data holds; the epoch then wraps around its permutation.
        positions = (step * batch_size + offsets) % count
        order = tf.random.experimental.index_shuffle(
            positions,
            seed=tf.stack([tf.cast(seed, tf.int64), epoch]),
            max_index=count - 1,
        )
        batch = {key: tf.gather(t, order) for key, t in tensors.items()}
        return index, batch

    return tf.data.Dataset.range(first, last).map(make_batch)


def _streamed_batches(source, batch_size, steps, seed, buffer, first, last):
    """Shuffle-buffer batches for data that does not fit in memory."""
    start_epoch, end_epoch = first // steps, -(-last // steps)

    def epoch_batches(epoch):
        batches = (
            source.shuffle(
                buffer or 1,
                seed=seed * 100_003 + epoch,
                reshuffle_each_iteration=False,
            )
            .batch(batch_size, drop_remainder=True)
            .take(steps)
        )
        indices = tf.data.Dataset.range(epoch * steps, (epoch + 1) * steps)
        return tf.data.Dataset.zip((indices, batches))

    epochs = [epoch_batches(e) for e in range(start_epoch, end_epoch)]
    dataset = functools.reduce(lambda a, b: a.concatenate(b), epochs)
    return dataset.skip(first - start_epoch * steps).take(last - first)


def pretrain_dataset(
    source,
    info,
    data_config: DataConfig,
    *,
    batch_size,
    seed=0,
    views=None,
    batches=None,
    steps=None,
    arrays=None,
):
    """The global batches `[first, last)` of the seeded order, with views.

    Batch g of epoch e is global batch `e * steps + g`: its images and its
    augmentation depend only on (`seed`, g), so a run resumed at any
    global batch continues the uninterrupted one exactly.

    Args:
        source, info: from `ssl_tf.data.load_source`.
        data_config: the `DataConfig`; its `image_size`, `shuffle_buffer`
            and `cache` (hold decoded images in memory when they fit,
            `holds_in_memory`) apply.
        views: augmentation layer called as `views(batch, seed=...)`;
            `None` leaves augmentation to the model's `train_step`.
        batches: `(first, last)` global batch indices (default: one epoch).
        steps: batches per epoch (default: the whole batches in `info`).
        arrays: already materialized arrays (to share between calls).

    Returns:
        The dataset; its element is `views(batch)` (or the raw batch).
    """
    steps = steps or steps_per_epoch(info.num_examples, batch_size)
    first, last = batches or (0, steps)
    if arrays is None:
        arrays = in_memory_arrays(
            source, info, data_config.image_size, data_config.cache
        )
    if arrays is not None:
        dataset = _in_memory_batches(
            arrays, batch_size, steps, seed, first, last
        )
    else:
        dataset = _streamed_batches(
            source,
            batch_size,
            steps,
            seed,
            data_config.shuffle_buffer,
            first,
            last,
        )
    if views is not None:

        def augment_batch(index, batch):
            return views(batch, seed=augment.batch_seed(seed, index))

        dataset = dataset.map(
            augment_batch,
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    else:
        dataset = dataset.map(lambda index, batch: batch)
    return dataset.prefetch(tf.data.AUTOTUNE)


def eval_dataset(source, batch_size):
    """Unshuffled batches for feature extraction and evaluation."""
    return source.batch(batch_size).prefetch(tf.data.AUTOTUNE)
