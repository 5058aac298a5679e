"""`RecordIds`: a TFRecord scan's usable ids, without a string a record."""

import numpy as np

from ssl_tf.data.sources.tfrecord import RecordIds
from ssl_tf.testing import TestCase


class RecordIdsTest(TestCase):
    def setUp(self):
        super().setUp()
        keep = [np.array([True, False, True]), np.array([False, True])]
        self.ids = RecordIds(["a.tfrecord", "b.tfrecord"], keep)

    def test_ids_of_the_kept_records_in_order(self):
        expected = ("a.tfrecord#0", "a.tfrecord#2", "b.tfrecord#1")
        self.assertLen(self.ids, 3)
        self.assertEqual(tuple(self.ids), expected)
        self.assertEqual(self.ids[-1], "b.tfrecord#1")
        self.assertEqual(self.ids[1:], expected[1:])
        self.assertEqual(self.ids, expected)
        with self.assertRaises(IndexError):
            self.ids[3]

    def test_equal_scans_are_equal_and_hash_alike(self):
        again = RecordIds(
            ["a.tfrecord", "b.tfrecord"],
            [np.array([True, False, True]), np.array([False, True])],
        )
        other = RecordIds(
            ["a.tfrecord", "b.tfrecord"],
            [np.array([True, True, False]), np.array([False, True])],
        )
        self.assertEqual(self.ids, again)
        self.assertEqual(hash(self.ids), hash(again))
        self.assertNotEqual(self.ids, other)

    def test_four_bytes_a_record(self):
        ids = RecordIds(["a"], [np.ones(1000, bool)])
        self.assertEqual(sum(k.nbytes for k in ids.kept), 4000)
