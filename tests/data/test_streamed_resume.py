"""Streamed sources resume in O(1) decodes and keep the batch order.

Table sources (folder, manifest, arrays) take the in-memory order and
decode only the rows of the batches they return; TFRecord (and TFDS,
through the same path) shuffle and skip encoded records, so a resume
decodes nothing it skips. Decodes are counted by wrapped decoders. Every
case runs on `image_size` squares (`data.crop_from=square`) and on
full-resolution frames (`original`, the default for images of unknown size).
"""

import dataclasses
import hashlib
import os

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from ssl_tf import data
from ssl_tf.config import DataConfig
from ssl_tf.data import windows
from ssl_tf.testing import TestCase, tiny_images, write_image_folder

# 24 images, global batch 4: 6 batches an epoch; [0, 12) spans two epochs.
IMAGES, BATCH, LAST, SEED = 24, 4, 12, 7


def digest(batch):
    """sha256 of a batch's tensors, in key order."""
    return hashlib.sha256(
        b"".join(np.asarray(batch[k]).tobytes() for k in sorted(batch))
    ).hexdigest()


def counted(source):
    """`source` whose decoders count their calls, and the counter."""
    counter = tf.Variable(0, dtype=tf.int64, trainable=False)

    def counting(decode):
        def wrapped(record):
            counter.assign_add(1)
            return decode(record)

        return wrapped

    counting_source = dataclasses.replace(
        source,
        decode=counting(source.decode),
        decode_original=counting(source.decode_original),
    )
    return counting_source, counter


def stream(source, first, crop_from, cache=False, pipeline=(0, 1), buffer=8):
    """Global batches `[first, LAST)` (this pipeline's rows) as NumPy."""
    config = DataConfig(
        image_size=8, crop_from=crop_from, cache=cache, shuffle_buffer=buffer
    )
    dataset = data.pretrain_dataset(
        source,
        config,
        batch_size=BATCH,
        seed=SEED,
        batches=(first, LAST),
        pipeline=pipeline,
    )
    return [tf.nest.map_structure(np.asarray, b) for b in dataset]


def large_images():
    """16 px images for `image_size` 8: under `crop_from="original"` a
    source of images no larger than `image_size` keeps the square path."""
    images = tiny_images(IMAGES, 8)
    return np.repeat(np.repeat(images, 2, axis=1), 2, axis=2)


def assert_crops_as_named(test, source):
    """`test.crop_from` is the path the pipeline takes for `source`."""
    config = DataConfig(image_size=8, crop_from=test.crop_from)
    test.assertEqual(
        data.pipeline.crops_original(source.info, config),
        test.crop_from == "original",
    )


def batches(*args, **kwargs):
    """The digests of `stream(...)`."""
    return [digest(b) for b in stream(*args, **kwargs)]


def check_resume(test, source, first, pipeline):
    """A run resumed at batch `first` is the tail of the uninterrupted one
    and decodes exactly the rows it returns (each run decodes its own)."""
    source, counter = counted(source)
    rows = BATCH // pipeline[1]
    full = batches(source, 0, test.crop_from, pipeline=pipeline)
    test.assertEqual(int(counter.numpy()), LAST * rows)
    counter.assign(0)
    resumed = batches(source, first, test.crop_from, pipeline=pipeline)
    test.assertEqual(resumed, full[first:])
    test.assertEqual(int(counter.numpy()), (LAST - first) * rows)


def _example(image, label):
    feature = {
        "image": tf.train.Feature(
            bytes_list=tf.train.BytesList(
                value=[tf.io.encode_png(image).numpy()]
            )
        ),
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
    }
    return tf.train.Example(
        features=tf.train.Features(feature=feature)
    ).SerializeToString()


class TableSourceTest(TestCase):
    """Folder and arrays sources: the in-memory order, row by row."""

    crop_from = "square"

    def _source(self, kind):
        # 16 px images resized to 8: decoding does work.
        images = large_images()
        labels = np.arange(IMAGES) % 3
        if kind == "arrays":
            return data.sources.open_arrays(images, labels, image_size=8)
        root = os.path.join(self.get_temp_dir(), "folder")
        write_image_folder(root, images, labels)
        return data.sources.open_folder(root, 8)

    @parameterized.named_parameters(("folder", "folder"), ("arrays", "arrays"))
    def test_streamed_table_equals_the_in_memory_batches(self, kind):
        source = self._source(kind)
        self.assertIsNotNone(source.table)
        assert_crops_as_named(self, source)
        in_memory = stream(source, 0, "square", cache=True)
        self.assertLen(in_memory, LAST)
        streamed = stream(source, 0, self.crop_from)
        # The same images in the same order: at full resolution too.
        self.assertAllEqual(
            [b["labels"] for b in streamed], [b["labels"] for b in in_memory]
        )
        if self.crop_from == "square":
            self.assertEqual(
                [digest(b) for b in streamed], [digest(b) for b in in_memory]
            )
        # Each pipeline's slice also matches, row for row.
        halves = [
            batches(source, 0, self.crop_from, pipeline=(i, 2)) for i in (0, 1)
        ]
        self.assertEqual(
            halves,
            [batches(source, 0, self.crop_from, True, (i, 2)) for i in (0, 1)],
        )

    @parameterized.named_parameters(
        ("start", 0, (0, 1)),
        ("resume_mid_epoch", 3, (0, 1)),
        ("resume_next_epoch", 8, (0, 1)),
        ("resume_one_slice", 9, (1, 2)),
    )
    def test_resume_decodes_only_the_rows_it_returns(self, first, pipeline):
        check_resume(self, self._source("folder"), first, pipeline)


class TableSourceFullResolutionTest(TableSourceTest):
    crop_from = "original"


class RecordSourceTest(TestCase):
    """TFRecord: the encoded records are shuffled in windows and skipped
    undecoded."""

    crop_from = "square"

    def setUp(self):
        super().setUp()
        path = os.path.join(self.get_temp_dir(), "data.tfrecord")
        with tf.io.TFRecordWriter(path) as writer:
            for index, image in enumerate(large_images()):
                writer.write(_example(image, index))
        self.source = data.sources.open_tfrecord(path, 8)
        self.assertIsNone(self.source.table)
        assert_crops_as_named(self, self.source)

    def decoded_windows(self, window):
        """The order of decoding the records of each epoch's shuffled
        order (`ssl_tf.data.windows`), then batching them."""
        steps = IMAGES // BATCH
        decode = self.source.decode
        if self.crop_from == "original":
            decode = self.source.decode_original
        out = []
        for epoch in range(LAST // steps):
            records = windows.epoch_records(
                self.source.shards, SEED, epoch, 0, IMAGES, window
            )
            out += [
                digest(b)
                for b in records.map(decode).batch(BATCH, drop_remainder=True)
            ]
        return out

    @parameterized.named_parameters(("window_8", 8), ("whole_epoch", 64))
    def test_order_is_that_of_the_decoded_windows(self, window):
        expected = self.decoded_windows(window)
        self.assertLen(expected, LAST)
        self.assertEqual(
            batches(self.source, 0, self.crop_from, buffer=window), expected
        )

    @parameterized.named_parameters(
        ("resume_mid_epoch", 3, (0, 1)),
        ("resume_next_epoch", 8, (0, 1)),
        ("resume_one_slice", 5, (1, 2)),
    )
    def test_resume_decodes_only_the_rows_it_returns(self, first, pipeline):
        check_resume(self, self.source, first, pipeline)

    def test_slices_join_into_the_whole_batch(self):
        whole = stream(self.source, 2, self.crop_from)
        halves = [
            stream(self.source, 2, self.crop_from, pipeline=(i, 2))
            for i in (0, 1)
        ]
        joined = [
            {k: np.concatenate([a[k], b[k]]) for k in a}
            for a, b in zip(*halves, strict=True)
        ]
        self.assertEqual(
            [digest(b) for b in joined], [digest(b) for b in whole]
        )


class RecordSourceFullResolutionTest(RecordSourceTest):
    crop_from = "original"
