"""The TFRecord source streams: bounded memory, decoded after reading."""

import json
import os
import tracemalloc
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf

from ssl_tf import data
from ssl_tf.data import images as image_io
from ssl_tf.data import scan
from ssl_tf.data.sources import tfrecord
from ssl_tf.testing import TestCase, tiny_images


def _example(image_bytes, label):
    feature = {
        "image": tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[image_bytes])
        ),
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
    }
    example = tf.train.Example(features=tf.train.Features(feature=feature))
    return example.SerializeToString()


def _write(path, items):
    """Writes `(image bytes, label)` pairs as one TFRecord file."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for image_bytes, label in items:
            writer.write(_example(image_bytes, label))


def _png(image):
    return tf.io.encode_png(image).numpy()


class TFRecordSourceTest(TestCase):
    def test_streams_in_bounded_python_memory_and_decodes_exactly(self):
        # 40 noise PNGs of 256 px, ~200 kB each: ~8 MB of records. Holding
        # them in a Python list (the old reader) costs all 8 MB.
        images = np.random.default_rng(0).integers(
            0, 256, (40, 256, 256, 3), np.uint8
        )
        encoded = [_png(image) for image in images]
        total = sum(len(e) for e in encoded)
        path = os.path.join(self.get_temp_dir(), "big.tfrecord")
        _write(path, [(e, i) for i, e in enumerate(encoded)])
        # Warm up: TF's first tracing allocates ~3 MB of Python objects.
        warm_up = os.path.join(self.get_temp_dir(), "one.tfrecord")
        _write(warm_up, [(encoded[0], 0)])
        list(data.sources.open_tfrecord(warm_up, 256).dataset())
        tracemalloc.start()
        # The scan holds one chunk of records: 2 of the 40 here.
        with mock.patch.object(scan, "CHUNK_SIZE", 2):
            source = data.sources.open_tfrecord(path, 256)
        matches = 0
        for index, element in enumerate(source.dataset()):
            matches += np.array_equal(element["images"], images[index])
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        self.assertEqual(matches, 40)
        self.assertGreater(total, 7_000_000)
        self.assertLess(peak, total // 4)
        self.assertEqual(source.info.num_examples, 40)
        self.assertIsNone(source.table)

    def test_files_are_read_one_after_another_in_sorted_order(self):
        root = self.get_temp_dir()
        image = _png(tiny_images(1, 8)[0])
        for file, count in enumerate((3, 2, 1)):
            _write(
                os.path.join(root, f"part-{file}.tfrecord"),
                [(image, 10 * file + i) for i in range(count)],
            )
        source = data.sources.open_tfrecord(os.path.join(root, "*.tfrecord"), 8)
        labels = [int(e["labels"]) for e in source.dataset()]
        self.assertEqual(labels, [0, 1, 2, 10, 11, 20])
        np.testing.assert_array_equal(source.shards.counts, [3, 2, 1])
        self.assertEqual(source.info.num_classes, 21)

    def test_a_bad_record_is_dropped_by_its_index(self):
        root = self.get_temp_dir()
        good = [_png(image) for image in tiny_images(4, 8, seed=2)]
        _write(os.path.join(root, "a.tfrecord"), [(good[0], 0), (good[1], 1)])
        _write(
            os.path.join(root, "b.tfrecord"),
            [(good[2], 2), (b"not an image", 3), (good[3], 4)],
        )
        source = data.sources.open_tfrecord(os.path.join(root, "*"), 8)
        self.assertEqual(
            [int(e["labels"]) for e in source.dataset()], [0, 1, 2, 4]
        )
        self.assertEqual(source.info.num_examples, 4)
        # The files' lengths count only the records kept.
        np.testing.assert_array_equal(source.shards.counts, [2, 2])
        [(item_id, reason)] = source.info.scan.skipped
        self.assertEqual(item_id, os.path.join(root, "b.tfrecord") + "#1")
        self.assertEqual(reason, "not an image (unknown header)")

    def test_a_checked_examples_artifact_is_not_scanned(self):
        uri = self.get_temp_dir()
        images = tiny_images(3, 8, seed=4)
        _write(
            os.path.join(uri, "Split-train", "data-00000-of-00001.tfrecord"),
            [(_png(image), i % 2) for i, image in enumerate(images)],
        )
        with open(os.path.join(uri, "report.json"), "w") as handle:
            json.dump(
                {"num_examples": {"train": 3}, "class_names": ["a", "b"]},
                handle,
            )
        pattern = os.path.join(uri, "Split-train", "*.tfrecord")
        with mock.patch.object(
            image_io, "inspect_images", side_effect=AssertionError
        ):
            source = data.sources.open_tfrecord(pattern, 8)
        self.assertEqual(source.info.num_examples, 3)
        self.assertEqual(source.info.class_names, ("a", "b"))
        self.assertIsNone(source.info.scan)
        decoded = [e["images"] for e in source.dataset()]
        self.assertAllEqual(np.stack(decoded), images)
        np.testing.assert_array_equal(source.shards.counts, [3])

    def test_examples_files_that_changed_since_the_report_are_refused(self):
        uri = self.get_temp_dir()
        split = os.path.join(uri, "Split-train")
        items = [(_png(image), 0) for image in tiny_images(3, 8, seed=4)]
        _write(os.path.join(split, "data-00000-of-00002.tfrecord"), items)
        _write(os.path.join(split, "data-00001-of-00002.tfrecord"), items[:1])
        with open(os.path.join(uri, "report.json"), "w") as handle:
            json.dump({"num_examples": {"train": 3}}, handle)
        with self.assertRaisesRegex(
            data.DataError, "hold 4 records, but their Examples report "
        ):
            data.sources.open_tfrecord(os.path.join(split, "*.tfrecord"), 8)


class TFRecordScanCacheTest(TestCase):
    def test_a_restart_reads_no_unchanged_file_again(self):
        root = self.get_temp_dir()
        good = [_png(image) for image in tiny_images(3, 8, seed=5)]
        for name, items in (("a", [(good[0], 0)]), ("b", [(good[1], 1)])):
            _write(os.path.join(root, "records", f"{name}.tfrecord"), items)
        _write(
            os.path.join(root, "records", "c.tfrecord"),
            [(b"oops", 5), (good[2], 2)],
        )
        pattern = os.path.join(root, "records", "*.tfrecord")
        env = {scan.SCAN_CACHE_ENV: os.path.join(root, "cache")}

        def open_counting():
            with (
                mock.patch.dict(os.environ, env),
                mock.patch.object(
                    image_io,
                    "inspect_images",
                    wraps=image_io.inspect_images,
                ) as inspect,
            ):
                source = data.sources.open_tfrecord(pattern, 8)
            return source, sum(len(c.args[0]) for c in inspect.call_args_list)

        first, inspected = open_counting()
        self.assertEqual(inspected, 4)
        second, inspected = open_counting()
        self.assertEqual(inspected, 0)
        self.assertEqual(second.info, first.info)
        self.assertEqual(
            [int(e["labels"]) for e in second.dataset()], [0, 1, 2]
        )
        _write(os.path.join(root, "records", "b.tfrecord"), [(good[1], 7)] * 2)
        third, inspected = open_counting()
        self.assertEqual(inspected, 2)  # b.tfrecord only
        self.assertEqual(third.info.num_examples, 4)
        self.assertEqual(third.info.num_classes, 8)


class TFRecordParallelScanTest(TestCase):
    @pytest.mark.large
    def test_worker_processes_find_what_this_process_finds(self):
        root = self.get_temp_dir()
        good = [_png(image) for image in tiny_images(5, 8, seed=6)]
        _write(os.path.join(root, "a.tfrecord"), [(good[0], 0), (b"x", 1)])
        _write(os.path.join(root, "b.tfrecord"), [(g, 2) for g in good[1:]])
        pattern = os.path.join(root, "*.tfrecord")
        env = {scan.SCAN_CACHE_ENV: "none"}
        with mock.patch.dict(os.environ, env):
            here = data.sources.open_tfrecord(pattern, 8)
            # Any size is "large": one file a task, in 2 spawned workers.
            with (
                mock.patch.object(tfrecord, "PARALLEL_SCAN_BYTES", 0),
                mock.patch.object(scan, "default_workers", return_value=2),
                mock.patch.object(
                    image_io, "inspect_images", side_effect=AssertionError
                ),
            ):
                workers = data.sources.open_tfrecord(pattern, 8)
        self.assertEqual(workers.info, here.info)
        np.testing.assert_array_equal(workers.shards.counts, [1, 4])
        self.assertEqual(
            [int(e["labels"]) for e in workers.dataset()], [0, 2, 2, 2, 2]
        )
