"""The resumable shuffle of streamed files (`ssl_tf.data.windows`).

Records are integers: file f of lengths `COUNTS` holds
`OFFSETS[f], OFFSETS[f] + 1, ...`, so every property is checked exactly.
"""

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from ssl_tf.data import windows
from ssl_tf.data.sources.base import Shards
from ssl_tf.testing import TestCase

COUNTS = np.array([7, 3, 11, 1, 9, 5], np.int64)
OFFSETS = np.concatenate([[0], np.cumsum(COUNTS)[:-1]])
TOTAL, SEED = int(COUNTS.sum()), 5


def counting_shards():
    """`Shards` of integer records, and a counter of the records read."""
    read = tf.Variable(0, dtype=tf.int64, trainable=False)

    def records(index):
        start = tf.gather(OFFSETS, index)
        return tf.data.Dataset.range(
            start, start + tf.gather(COUNTS, index)
        ).map(lambda r: (read.assign_add(1), r)[1])

    return Shards(records, COUNTS), read


def epoch(shards, number, window, begin=0, count=TOTAL):
    records = windows.epoch_records(shards, SEED, number, begin, count, window)
    return [int(r) for r in records]


class WindowsTest(TestCase, parameterized.TestCase):
    def setUp(self):
        super().setUp()
        self.shards, self.read = counting_shards()

    def test_file_order_is_a_seeded_permutation_per_epoch(self):
        orders = [windows.file_order(len(COUNTS), SEED, e) for e in range(4)]
        for order in orders:
            self.assertCountEqual(order, range(len(COUNTS)))
        self.assertLen({tuple(o) for o in orders}, 4)
        np.testing.assert_array_equal(
            windows.file_order(len(COUNTS), SEED, 2), orders[2]
        )

    def test_window_one_reads_the_files_in_their_epoch_order(self):
        order = windows.file_order(len(COUNTS), SEED, 3)
        expected = [
            int(OFFSETS[f]) + i for f in order for i in range(COUNTS[f])
        ]
        self.assertEqual(epoch(self.shards, 3, window=1), expected)

    @parameterized.parameters(4, 8, 36, 100)
    def test_each_window_is_a_permutation_of_its_records(self, window):
        order = windows.file_order(len(COUNTS), SEED, 1)
        stream = [int(OFFSETS[f]) + i for f in order for i in range(COUNTS[f])]
        shuffled = epoch(self.shards, 1, window)
        self.assertLen(shuffled, TOTAL)
        for start in range(0, TOTAL, window):
            self.assertCountEqual(
                shuffled[start : start + window],
                stream[start : start + window],
            )
        self.assertNotEqual(shuffled, stream)
        self.assertNotEqual(shuffled, epoch(self.shards, 2, window))

    @parameterized.parameters(4, 8)
    def test_a_start_anywhere_continues_the_whole_epoch(self, window):
        whole = epoch(self.shards, 1, window)
        for begin in range(TOTAL):
            count = min(6, TOTAL - begin)
            self.assertEqual(
                epoch(self.shards, 1, window, begin, count),
                whole[begin : begin + count],
                msg=f"begin={begin}",
            )

    def test_a_late_start_reads_one_file_and_a_window_not_the_epoch(self):
        # 50 files of 10 records; start at 90% of the epoch.
        read = tf.Variable(0, dtype=tf.int64, trainable=False)
        shards = Shards(
            lambda index: tf.data.Dataset.range(10).map(
                lambda r: (read.assign_add(1), r)[1]
            ),
            np.full(50, 10, np.int64),
        )
        window = 8
        for begin in (0, 450, 455, 499):
            read.assign(0)
            records = windows.epoch_records(shards, SEED, 1, begin, 1, window)
            self.assertLen(list(records), 1)
            # The rest of the file the record's window starts in, that
            # window, and tf.data's read-ahead of the next one; never the
            # `begin` records before it.
            self.assertLessEqual(int(read.numpy()), 10 + 2 * window)

    def test_a_start_past_the_end_gives_nothing(self):
        self.assertEqual(epoch(self.shards, 0, 4, TOTAL, 3), [])
        self.assertEqual(epoch(self.shards, 0, 4, TOTAL - 1, 3)[1:], [])
