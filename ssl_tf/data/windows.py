"""A shuffle of streamed files that can start anywhere: files, then windows.

Sources without random access (TFRecord, TFDS) are read in order, so their
records cannot be permuted globally like a table's (`index_shuffle`). A
shuffle buffer would do, but its state after k records depends on every
record before: resuming at record k means reading all k of them again
(900 k records at 90% of a 1 M-record epoch).

Here each epoch is instead a pure function of (seed, epoch):

1. the files are read in a seeded permutation, one after the other;
2. that stream is cut into consecutive windows of `window` records, and
   each window is permuted by its own seed (seed, epoch, window index).

Record p of epoch e is then found without reading what comes before it:
its window starts at record `p // window * window`, which lies in a file
known from the file lengths (`Shards.counts`). Starting there reads the
rest of one file's records before the window (bytes only, nothing is
decoded) and the window itself, whatever the dataset's size. Like a
shuffle buffer of `window` records, one window of `window` encoded records
is held in memory (while the next is read), and it mixes the records of
the files it spans; the file permutation mixes the rest across epochs.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from ssl_tf.data.sources.base import Shards

# Seed streams of an epoch: the file order, and the windows' orders.
_FILE_ORDER, _WINDOW_ORDER = 0, 1

# tf.data would otherwise run the sequential steps above in parallel and
# prefetch after them, building the next windows while one is read: each
# window held is `window` encoded records (33 MB for 10,000 small PNGs,
# measured at 1 M images). The pipeline's explicit parallel steps stay so.
_ONE_WINDOW = tf.data.Options()
_ONE_WINDOW.experimental_optimization.map_parallelization = False
_ONE_WINDOW.experimental_optimization.inject_prefetch = False


def _epoch_seed(seed, epoch, stream):
    """The stateless seed of one of an epoch's random orders."""
    pair = tf.constant([seed, epoch], tf.int64)
    return tf.random.experimental.stateless_fold_in(pair, stream)


def _permutation(count, seed):
    """A seeded permutation of `range(count)` (`count` may be a tensor).

    The order of `count` random 64-bit keys: `index_shuffle` with seeds
    from `stateless_fold_in` repeats permutations (141 distinct file
    orders in 200 epochs of 64 files, measured).
    """
    keys = tf.random.stateless_uniform(
        [count], seed=seed, minval=None, maxval=None, dtype=tf.int64
    )
    return tf.argsort(keys, stable=True)


def file_order(num_files: int, seed: int, epoch: int) -> np.ndarray:
    """The order epoch `epoch` reads the files in."""
    seed_pair = _epoch_seed(seed, epoch, _FILE_ORDER)
    return _permutation(num_files, seed_pair).numpy()


def epoch_records(
    shards: Shards, seed: int, epoch: int, begin: int, count: int, window: int
) -> tf.data.Dataset:
    """Records `[begin, begin + count)` of epoch `epoch`'s shuffled order.

    The order is the file permutation of (`seed`, `epoch`) with windows of
    `window` records permuted (`window` <= 1: files permuted only). It
    ends early when the epoch holds fewer records.

    Args:
        shards: the source's files and their lengths.
        seed: the run's seed.
        epoch: the epoch.
        begin: the first record, counted from the epoch's start.
        count: how many records to give.
        window: records a window; also how many are held at once.
    """
    window = max(int(window), 1)
    order = file_order(len(shards.counts), seed, epoch)
    ends = np.cumsum(shards.counts[order])
    # Read from the start of `begin`'s window: the file that holds it, and
    # skip (read, not decode) that file's records before it.
    window_index = begin // window
    start = window_index * window
    file = int(np.searchsorted(ends, start, side="right"))
    before = int(ends[file - 1]) if file else 0
    records = shards.records(order[file:]).skip(start - before)
    if window > 1:
        window_seed = _epoch_seed(seed, epoch, _WINDOW_ORDER)

        def permuted(index, rows):
            # The window's records in its own order, one at a time: the
            # window is held once (a gather of it would copy every record).
            seed_pair = tf.random.experimental.stateless_fold_in(
                window_seed, index
            )
            order = _permutation(tf.shape(rows)[0], seed_pair)
            return tf.data.Dataset.from_tensor_slices(order).map(
                lambda row: rows[row]
            )

        windows = records.batch(window).enumerate(start=window_index)
        records = windows.flat_map(permuted).with_options(_ONE_WINDOW)
    return records.skip(begin - start).take(count)
