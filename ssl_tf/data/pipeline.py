"""Batched, augmented, resumable tf.data pipelines for pretraining.

Every batch has a global index `g = epoch * steps + step`, and everything
random about it (which images, which augmentations) is a pure function of
`(seed, g)`. A resumed run therefore sees exactly the batches an
uninterrupted run would have seen, without replaying the earlier ones.

Under a `tf.distribute` strategy each input pipeline (one a host) builds
its contiguous slice of every global batch, augmented with the seeds of
the slice's global rows, so the replicas together see the batches one
device would, on any topology.
"""

from __future__ import annotations

import functools
import logging

import tensorflow as tf

from ssl_tf import augment
from ssl_tf.config import DataConfig
from ssl_tf.data import windows
from ssl_tf.data.memory import held, materialize
from ssl_tf.data.sources import DataError
from ssl_tf.data.sources.base import Shards

logger = logging.getLogger("ssl_tf.data")

# Host-memory bounds of a pretraining pipeline: at most this many batches
# are augmented at once and this many wait prefetched, and tf.data's
# autotuner buffers no more than `RAM_BUDGET_BYTES` (the in-memory arrays
# are held outside that budget, bounded by `data.cache_max_bytes`).
PARALLEL_BATCHES = 4
PREFETCH_BATCHES = 2
RAM_BUDGET_BYTES = 2 << 30


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
    steps = num_examples // batch_size
    if steps < 1:
        raise DataError(
            f"The dataset has {num_examples} images, fewer than one batch of "
            f"{batch_size}. Lower `train.batch_size`."
        )
    return steps


def crops_original(info, data_config: DataConfig) -> bool:
    """Whether pretraining crops the full-resolution images of a source.

    Under `data.crop_from="original"`, unless every image is known
    (`SourceInfo.image_shape`) to be no larger than `data.image_size`:
    then cropping the original and its square are the same, and the
    square path (cacheable, as before) is kept.
    """
    if data_config.crop_from != "original":
        return False
    shape = info.image_shape
    return shape is None or max(shape) > data_config.image_size


def holds_in_memory(info, data_config: DataConfig) -> bool:
    """Whether the decoded source is held in memory (else it is streamed).

    The one place that decides: `data.cache` is on, the decoded images
    fit in `data.cache_max_bytes`, and they are cropped from the square
    (`crops_original`): full-resolution images vary in size, so they are
    decoded per batch instead.
    """
    size = data_config.image_size
    bytes_needed = info.num_examples * size * size * 3
    return (
        data_config.cache
        and bytes_needed <= data_config.cache_max_bytes
        and not crops_original(info, data_config)
    )


def _decoder(source, data_config):
    """`decode_original` under `crops_original` (if the source has it)."""
    if crops_original(source.info, data_config) and source.decode_original:
        return source.decode_original
    return source.decode


def first_batch(source, data_config: DataConfig, count: int) -> dict:
    """The source's first `count` images as the pretraining batches hold
    them: full-resolution frames and their `"sizes"` under
    `crops_original`, else `image_size` squares (for pictures of the views
    and for building a model)."""
    decode = _decoder(source, data_config)
    return next(iter(source.records.take(count).map(decode).batch(count)))


def in_memory_arrays(source, data_config: DataConfig):
    """The decoded `Source` as CPU variables if `holds_in_memory`, else None.

    See `materialize`; pass the result as `pretrain_dataset`'s `arrays` to
    share it between datasets.
    """
    if not holds_in_memory(source.info, data_config):
        return None
    return materialize(source.dataset(), source.info.num_examples)


def _gathered_batches(arrays, rows, steps, seed, first, last):
    """`(g, rows of arrays)` for global batches `first..last-1`, in order.

    The rows of every epoch are a permutation (`index_shuffle`) of all
    rows, a pure function of (`seed`, epoch). `rows` is `(start, size,
    batch_size)`: each element holds rows `[start, start + size)` of its
    global batch.
    """
    start, size, batch_size = rows
    tensors = held(arrays)
    count = int(next(iter(tensors.values())).shape[0])
    offsets = tf.range(start, start + size, dtype=tf.int64)

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


def _decoded(records, decode, size, first, last):
    """`(g, batch)` for global batches `first..last-1` from their records.

    `records` holds the `size` rows of each batch in turn. Each record is
    decoded once, in order, at most `PARALLEL_BATCHES` batches' rows at a
    time.
    """
    batches = records.map(
        decode, num_parallel_calls=PARALLEL_BATCHES * size, deterministic=True
    ).batch(size, drop_remainder=True)
    return tf.data.Dataset.zip((tf.data.Dataset.range(first, last), batches))


def _table_batches(source, decode, rows, steps, seed, first, last):
    """The in-memory order over a source's table, decoding only its rows.

    Gathers the rows of each batch (paths' offsets, labels, ...) as
    `_gathered_batches` gathers decoded images, turns them into records
    with the table's shared tensors (`Table.to_records`), then decodes
    them: the batches equal the in-memory ones, and batch g costs its own
    rows.
    """
    table = source.table
    shared = held(table.shared)
    records = _gathered_batches(table, rows, steps, seed, first, last)
    records = records.map(
        lambda index, batch: table.to_records(batch, shared)
    ).unbatch()
    return _decoded(records, decode, rows[1], first, last)


def _streamed_batches(source, decode, rows, steps, seed, window, first, last):
    """Batches of the encoded records in the order of `windows`, for
    sources without random access (TFRecord, TFDS).

    Each epoch reads the files in a seeded order and permutes windows of
    `window` records (`ssl_tf.data.windows`), a pure function of (`seed`,
    epoch): starting at batch `first` reads at most one file and one
    window it skips, and decodes none of them; the other pipelines' rows
    (`rows` as in `_gathered_batches`) are skipped the same way. Decoding
    is 1:1 and in order, so the batches are those of shuffling the
    decoded images.
    """
    start, size, batch_size = rows
    shards = source.shards or Shards.single(
        source.records, source.info.num_examples
    )

    def mine(i, _):
        # The in-epoch row number (skips are whole batches) in our slice.
        row = i % batch_size
        return tf.logical_and(row >= start, row < start + size)

    def epoch_batches(epoch):
        low, high = max(first, epoch * steps), min(last, (epoch + 1) * steps)
        records = windows.epoch_records(
            shards,
            seed,
            epoch,
            begin=(low - epoch * steps) * batch_size,
            count=(high - low) * batch_size,
            window=window,
        )
        if size < batch_size:
            records = records.enumerate().filter(mine).map(lambda _, r: r)
        return _decoded(records, decode, size, low, high)

    epochs = range(first // steps, -(-last // steps))
    return functools.reduce(
        lambda a, b: a.concatenate(b), [epoch_batches(e) for e in epochs]
    )


def pretrain_dataset(
    source,
    data_config: DataConfig,
    *,
    batch_size,
    seed=0,
    views=None,
    batches=None,
    steps=None,
    arrays=None,
    pipeline=(0, 1),
    image_dtype=None,
):
    """The global batches `[first, last)` of the seeded order, with views.

    Batch g of epoch e is global batch `e * steps + g`: its images and its
    augmentation depend only on (`seed`, g), so a run resumed at any
    global batch continues the uninterrupted one exactly. The cost of
    starting at step k of an epoch (B images a batch):

    | source                               | resume at step k costs          |
    |--------------------------------------|---------------------------------|
    | in memory (`holds_in_memory`)        | O(1)                            |
    | folder, manifest, arrays (streamed)  | O(1): decodes only its batches  |
    | TFRecord, TFDS (streamed)            | reads <= 1 file + 1 window of   |
    |                                      | records, decodes none           |

    Args:
        source: the `ssl_tf.data.Source` (`ssl_tf.data.open_source`).
        data_config: the `DataConfig`; its `image_size`, `crop_from`
            (`crops_original`: the batch's `"images"` are then each
            image's full-resolution frame, with its `"sizes"`; see
            `ssl_tf.data.sources.base`), `shuffle_buffer`, `cache` and
            `cache_max_bytes` (hold decoded images in memory when they
            fit, `holds_in_memory`) apply. Streamed sources with
            a `table` take the in-memory order without a buffer; the others
            read their files in a seeded order and permute windows of
            `shuffle_buffer` encoded records (`ssl_tf.data.windows`).
        batch_size: the global batch size.
        views: augmentation layer called as `views(batch, seed=...)`;
            `None` leaves augmentation to the model's `train_step`.
        batches: `(first, last)` global batch indices (default: one epoch).
        steps: batches per epoch (default: the whole batches of the source).
        arrays: already materialized arrays (to share between calls).
        pipeline: `(id, count)`: build only rows
            `[id * batch_size / count, (id + 1) * batch_size / count)` of
            each global batch, augmented as those rows of the whole batch
            (`augment.RowSeed`); only those rows are decoded.
        image_dtype: the dtype the views' images leave in (`views` makes
            float32 ones), e.g. `tf.bfloat16` under `mixed_bfloat16`: the
            encoder's first layer casts them to that anyway, and they take
            half the host memory. Labels and uint8 images (no `views`)
            keep their dtype.

    Host memory: up to `PARALLEL_BATCHES` batches are augmented at once
    and `PREFETCH_BATCHES` wait, each `2 * B * S * S * 3` values for two
    views of S px (4 bytes each in float32, 2 in bfloat16; at 224 px and
    B = 256, 294 or 147 MiB a batch); without `views` a batch is B uint8
    images (`B * S * S * 3` bytes, 37 MiB), augmented on the device.

    Returns:
        The dataset; its element is `views(batch)` (or the raw batch).

    Raises:
        ValueError: if `pipeline`'s count does not divide `batch_size`.
    """
    steps = steps or steps_per_epoch(source.info.num_examples, batch_size)
    first, last = batches or (0, steps)
    pipeline_id, pipelines = pipeline
    if batch_size % pipelines:
        raise ValueError(
            f"`batch_size` must be divisible by the {pipelines} input "
            f"pipelines. Received: batch_size={batch_size}"
        )
    size = batch_size // pipelines
    rows = (pipeline_id * size, size, batch_size)
    if arrays is None:
        arrays = in_memory_arrays(source, data_config)
    decode = _decoder(source, data_config)
    if arrays is not None:
        dataset = _gathered_batches(arrays, rows, steps, seed, first, last)
    elif source.table is not None:
        dataset = _table_batches(source, decode, rows, steps, seed, first, last)
    else:
        buffer = data_config.shuffle_buffer
        dataset = _streamed_batches(
            source, decode, rows, steps, seed, buffer, first, last
        )
    if views is not None:

        def augment_batch(index, batch):
            batch_seed = augment.batch_seed(seed, index)
            if pipelines > 1:
                batch_seed = augment.RowSeed(batch_seed, pipeline_id, pipelines)
            return cast_images(views(batch, seed=batch_seed), image_dtype)

        dataset = dataset.map(
            augment_batch,
            num_parallel_calls=PARALLEL_BATCHES,
            deterministic=True,
        )
    else:
        dataset = dataset.map(lambda index, batch: batch)
    return _bounded(dataset.prefetch(PREFETCH_BATCHES))


def cast_images(element, dtype):
    """`element` with its floating images (rank-4 tensors) cast to `dtype`.

    `dtype=None` returns `element` as it is.
    """
    if dtype is None:
        return element

    def cast(tensor):
        if tensor.shape.rank == 4 and tensor.dtype.is_floating:
            return tf.cast(tensor, dtype)
        return tensor

    return tf.nest.map_structure(cast, element)


def _bounded(dataset):
    """`dataset` with tf.data's autotuner held to `RAM_BUDGET_BYTES`."""
    options = tf.data.Options()
    options.autotune.ram_budget = RAM_BUDGET_BYTES
    return dataset.with_options(options)


def distributed_pretrain_dataset(strategy, *args, batch_size, **kwargs):
    """`pretrain_dataset` fed through `strategy`, one pipeline per host.

    Each input pipeline (`tf.distribute.InputContext`) builds its slice of
    every global batch (`pretrain_dataset`'s `pipeline`) on its own host
    and splits it, in order, over its local replicas. Replica r therefore
    gets rows `[r * n, (r + 1) * n)` of global batch g (n = per-replica
    batch), which is how the replicas' `RowSeed`s and a 1-device run
    number them: batches and resume are the same on any topology.

    Args:
        strategy: a `tf.distribute.Strategy`.
        *args, **kwargs: those of `pretrain_dataset`, without `pipeline`.
        batch_size: the global batch size.

    Returns:
        The dataset as `strategy.distribute_datasets_from_function` gives
        it (a plain `tf.data.Dataset` under the default strategy), for
        `model.fit`.
    """

    def dataset_fn(context):
        dataset = pretrain_dataset(
            *args,
            batch_size=batch_size,
            pipeline=(context.input_pipeline_id, context.num_input_pipelines),
            **kwargs,
        )
        local = context.num_replicas_in_sync // context.num_input_pipelines
        return _per_replica(dataset, local)

    return strategy.distribute_datasets_from_function(dataset_fn)


def _per_replica(dataset, replicas):
    """Each element split into `replicas` consecutive elements, in order.

    `distribute_datasets_from_function` hands a pipeline's successive
    elements to its local replicas in turn.
    """
    if replicas == 1:
        return dataset

    def split(element):
        return tf.nest.map_structure(
            lambda t: tf.reshape(
                t, tf.concat([[replicas, -1], tf.shape(t)[1:]], 0)
            ),
            element,
        )

    return dataset.map(split).unbatch()


def eval_dataset(source, batch_size):
    """Unshuffled batches for feature extraction and evaluation."""
    return source.batch(batch_size).prefetch(tf.data.AUTOTUNE)
