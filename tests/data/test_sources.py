import os
import shutil
import tempfile
import time
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf
from absl.testing import parameterized
from PIL import Image

from ssl_tf import data
from ssl_tf.config import DataConfig
from ssl_tf.testing import TestCase, tiny_images

SHARED_TFDS = os.path.join(
    os.path.dirname(__file__), "..", "..", "..", "shared", "tfds"
)


def write_images(root, images, fmt="png"):
    os.makedirs(root, exist_ok=True)
    paths = []
    for i, image in enumerate(images):
        path = os.path.join(root, f"{i:03d}.{fmt}")
        Image.fromarray(image.squeeze()).save(path)
        paths.append(path)
    return paths


class SourcesTest(TestCase):
    def test_arrays_grayscale_expanded_and_resized(self):
        images = tiny_images(4, 8, channels=1)[..., 0]
        dataset, info = data.load_arrays(images, [0, 1, 0, 1], image_size=16)
        element = next(iter(dataset))
        self.assertEqual(element["images"].shape, (16, 16, 3))
        self.assertEqual(element["images"].dtype, tf.uint8)
        self.assertAllEqual(
            element["images"][..., 0], element["images"][..., 2]
        )
        self.assertEqual(info.num_classes, 2)

    def test_folder_with_class_subfolders_gives_labels(self):
        root = self.get_temp_dir()
        write_images(os.path.join(root, "cats"), tiny_images(2, 16, seed=1))
        write_images(
            os.path.join(root, "dogs"), tiny_images(3, 16, seed=2), "bmp"
        )
        dataset, info = data.load_folder(root, 16)
        labels = [int(e["labels"]) for e in dataset]
        self.assertEqual(labels, [0, 0, 1, 1, 1])
        self.assertEqual(info.class_names, ("cats", "dogs"))
        first = next(iter(dataset))["images"].numpy()
        self.assertAllEqual(first, tiny_images(2, 16, seed=1)[0])

    def test_flat_folder_is_unlabeled(self):
        root = self.get_temp_dir()
        write_images(root, tiny_images(3, 20), "jpg")
        dataset, info = data.load_folder(root, 16)
        element = next(iter(dataset))
        self.assertNotIn("labels", element)
        self.assertEqual(element["images"].shape, (16, 16, 3))
        self.assertIsNone(info.num_classes)

    def test_tfrecord_examples_with_labels(self):
        root = self.get_temp_dir()
        path = os.path.join(root, "data.tfrecord")
        images = tiny_images(3, 16)
        with tf.io.TFRecordWriter(path) as writer:
            for i, image in enumerate(images):
                example = tf.train.Example(
                    features=tf.train.Features(
                        feature={
                            "image": tf.train.Feature(
                                bytes_list=tf.train.BytesList(
                                    value=[tf.io.encode_png(image).numpy()]
                                )
                            ),
                            "label": tf.train.Feature(
                                int64_list=tf.train.Int64List(value=[i])
                            ),
                        }
                    )
                )
                writer.write(example.SerializeToString())
        dataset, info = data.load_tfrecord(os.path.join(root, "*.tfrecord"), 16)
        elements = list(dataset)
        self.assertEqual([int(e["labels"]) for e in elements], [0, 1, 2])
        self.assertAllEqual(elements[1]["images"], images[1])
        self.assertEqual(info.num_examples, 3)

    def test_missing_folder_names_the_path(self):
        with self.assertRaisesRegex(data.DataError, "nowhere"):
            data.load_folder("/nowhere/at/all", 16)

    @pytest.mark.skipif(
        not os.path.isdir(SHARED_TFDS), reason="no offline TFDS copy"
    )
    def test_tfds_offline_cifar10_and_bad_split(self):
        dataset, info = data.load_tfds(
            "cifar10", "test", 32, data_dir=SHARED_TFDS
        )
        self.assertEqual(info.num_examples, 10_000)
        self.assertEqual(info.num_classes, 10)
        element = next(iter(dataset))
        self.assertEqual(element["images"].shape, (32, 32, 3))
        with self.assertRaisesRegex(data.DataError, "Available splits"):
            data.load_tfds("cifar10", "validation", 32, data_dir=SHARED_TFDS)

    @pytest.mark.skipif(
        not os.path.isdir(SHARED_TFDS), reason="no offline TFDS copy"
    )
    def test_tfds_data_dir_from_the_environment(self):
        with mock.patch.dict(os.environ, {"TFDS_DATA_DIR": SHARED_TFDS}):
            _, info = data.load_tfds("cifar10", "test", 32)
        self.assertEqual(info.num_examples, 10_000)

    def _not_prepared_message(self, data_dir=None):
        started = time.perf_counter()
        with self.assertRaises(data.DataError) as caught:
            data.load_tfds("cifar10", "train", 32, data_dir=data_dir)
        # A guard against a download attempt, not a benchmark.
        self.assertLess(time.perf_counter() - started, 30)
        message = str(caught.exception)
        self.assertNotIn("\n", message)
        return message

    def test_tfds_not_prepared_fails_at_once_in_one_line(self):
        empty = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, empty, True)
        message = self._not_prepared_message(data_dir=empty)
        self.assertIn(
            f"TFDS dataset 'cifar10' is not prepared in {empty}", message
        )
        self.assertIn("data_dir from data.data_dir", message)
        for hint in ("TFDS_DATA_DIR", "data.data_dir"):
            self.assertIn(hint, message)
        self.assertIn(f"tfds build cifar10 --data_dir {empty}", message)
        self.assertEqual(os.listdir(empty), [])  # nothing was downloaded

    def test_tfds_not_prepared_names_the_environment_dir(self):
        empty = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, empty, True)
        with mock.patch.dict(os.environ, {"TFDS_DATA_DIR": empty}):
            message = self._not_prepared_message()
        self.assertIn(f"not prepared in {empty}", message)
        self.assertIn("data_dir from TFDS_DATA_DIR", message)

    def test_tfds_unknown_name_is_one_line(self):
        with self.assertRaisesRegex(
            data.DataError, "Unknown TFDS dataset 'no_such_dataset'"
        ) as caught:
            data.load_tfds("no_such_dataset", "train", 32)
        self.assertNotIn("\n", str(caught.exception))


class PipelineTest(TestCase):
    def _source(self, n=20):
        images = np.arange(n, dtype=np.uint8)[:, None, None, None] * np.ones(
            (1, 4, 4, 3), np.uint8
        )
        return data.sources.open_arrays(images, np.arange(n), image_size=4)

    def test_each_epoch_is_a_permutation_and_epochs_differ(self):
        source = self._source()
        dataset = data.pretrain_dataset(
            source, DataConfig(image_size=4), batch_size=5, batches=(0, 8)
        )
        batches = [b["labels"].numpy() for b in dataset]
        self.assertLen(batches, 8)
        epoch_1, epoch_2 = (
            np.concatenate(batches[:4]),
            np.concatenate(batches[4:]),
        )
        self.assertAllEqual(np.sort(epoch_1), np.arange(20))
        self.assertAllEqual(np.sort(epoch_2), np.arange(20))
        self.assertNotAllEqual(epoch_1, epoch_2)

    @parameterized.named_parameters(
        ("cached", 3, 4, True, 6),
        ("streaming", 2, 1, False, 5),
    )
    def test_resumed_stream_continues_the_uninterrupted_one(
        self, epochs, seed, cache, done
    ):
        source = self._source()
        data_config = DataConfig(image_size=4, cache=cache)

        def labels(first):
            # 20 images: 4 batches an epoch.
            batches = (first, epochs * 4)
            return [
                b["labels"].numpy()
                for b in data.pretrain_dataset(
                    source,
                    data_config,
                    batch_size=5,
                    seed=seed,
                    batches=batches,
                )
            ]

        full = labels(0)
        resumed = labels(done)
        self.assertAllEqual(np.stack(full[done:]), np.stack(resumed))
        self.assertAllEqual(np.sort(np.concatenate(full[:4])), np.arange(20))

    def test_too_few_images_for_one_batch(self):
        with self.assertRaisesRegex(ValueError, "fewer than one batch"):
            data.steps_per_epoch(3, 8)
