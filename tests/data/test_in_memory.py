"""The in-memory path: decoded once, counted, held once."""

import gc
from unittest import mock

import numpy as np
import tensorflow as tf

from ssl_tf.config import DataConfig
from ssl_tf.data import memory, pipeline
from ssl_tf.data.sources import DataError, open_arrays
from ssl_tf.testing import TestCase, tiny_images


def counted(images, labels):
    return tf.data.Dataset.from_tensor_slices(
        {"images": images, "labels": labels}
    )


class MaterializeTest(TestCase):
    def setUp(self):
        super().setUp()
        self.images = tiny_images(10, 4)
        self.labels = np.arange(10, dtype=np.int64) * 3

    def test_chunks_join_into_the_rows_in_order(self):
        # 10 rows in chunks of 4: two full chunks and a partial one.
        with mock.patch.object(memory, "MATERIALIZE_CHUNK", 4):
            arrays = memory.materialize(counted(self.images, self.labels), 10)
        self.assertEqual(sorted(arrays), ["images", "labels"])
        self.assertIsInstance(arrays["images"], tf.Variable)
        self.assertEqual(arrays["images"].dtype, tf.uint8)
        self.assertEqual(arrays["labels"].dtype, tf.int64)
        self.assertAllEqual(arrays["images"].numpy(), self.images)
        self.assertAllEqual(arrays["labels"].numpy(), self.labels)

    def test_fewer_rows_than_counted_are_refused(self):
        with self.assertRaisesRegex(
            DataError, "holds 10 images, but its info counts 11"
        ):
            memory.materialize(counted(self.images, self.labels), 11)

    def test_more_rows_than_counted_are_refused_without_reading_on(self):
        # An endless dataset: refused at the first chunk past the count.
        endless = counted(self.images, self.labels).repeat()
        with mock.patch.object(memory, "MATERIALIZE_CHUNK", 4):
            with self.assertRaisesRegex(
                DataError, "holds more than 9 images, but its info counts 9"
            ):
                memory.materialize(endless, 9)

    def test_in_memory_arrays_are_the_decoded_source(self):
        source = open_arrays(self.images, self.labels)
        arrays = pipeline.in_memory_arrays(
            source, DataConfig(image_size=4, cache=True)
        )
        self.assertAllEqual(arrays["images"].numpy(), self.images)


class HeldTest(TestCase):
    def test_materialized_variables_are_read_as_they_are(self):
        arrays = memory.materialize(counted(tiny_images(4, 4), np.arange(4)), 4)
        held = memory.held(arrays)
        self.assertIs(held["images"], arrays["images"])
        self.assertIs(held["labels"], arrays["labels"])

    def test_an_array_is_copied_once_and_dropped_with_it(self):
        table = {"path": np.array(["a.png", "b.png"], dtype=object)}
        first, again = memory.held(table), memory.held(table)
        self.assertIs(first["path"], again["path"])
        self.assertAllEqual(first["path"].numpy(), [b"a.png", b"b.png"])
        entries = len(memory._HELD)
        del table, first, again
        gc.collect()
        self.assertLen(memory._HELD, entries - 1)
