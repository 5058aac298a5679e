"""Tests for `ssl_tf.evaluation.features`."""

import os
import shutil
import tempfile

import keras
import numpy as np

from ssl_tf import data as data_lib
from ssl_tf.config import DataConfig
from ssl_tf.evaluation import features
from ssl_tf.testing import TestCase, tiny_images


class _FakeEncoder:
    """The `LoadedEncoder` interface: mean colour of each image."""

    def __init__(self, image_size=8, fingerprint="fake123"):
        self.image_size = image_size
        self.fingerprint = fingerprint
        self.calls = 0
        self.sizes = []

    def embed(self, images):
        images = np.asarray(images, np.float32)
        self.sizes.append(images.shape[1:])
        return images.mean(axis=(1, 2))

    def embed_dataset(self, dataset):
        self.calls += 1
        out, labels = [], []
        for batch in dataset:
            out.append(self.embed(batch["images"].numpy()))
            labels.append(batch["labels"].numpy())
        return np.concatenate(out), np.concatenate(labels)


_CONFIG = DataConfig(source="arrays", name="toy", image_size=8)


class ExtractFeaturesTest(TestCase):
    def setUp(self):
        super().setUp()
        self.cache = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.cache, True)
        self.arrays = (tiny_images(20, size=8, seed=0), np.arange(20) % 4)

    def _extract(self, encoder, **kwargs):
        kwargs.setdefault("arrays", self.arrays)
        return features.extract_features(
            encoder,
            _CONFIG,
            "train",
            batch_size=6,
            cache_dir=self.cache,
            **kwargs,
        )

    def test_computed_once_then_read_from_cache(self):
        encoder = _FakeEncoder()
        x, y = self._extract(encoder)
        self.assertEqual(x.shape, (20, 3))
        self.assertEqual(x.dtype, np.float32)
        self.assertEqual(y.dtype, np.int64)
        self.assertLen(os.listdir(self.cache), 1)
        again_x, again_y = self._extract(encoder)
        self.assertEqual(encoder.calls, 1)
        self.assertAllEqual(again_x, x)
        self.assertAllEqual(again_y, y)

    def test_key_covers_split_size_limit_model_and_content(self):
        encoder = _FakeEncoder()
        self._extract(encoder)
        self._extract(encoder, max_examples=5)
        self._extract(_FakeEncoder(fingerprint="other"))
        self._extract(encoder, arrays=(self.arrays[0][::-1], self.arrays[1]))
        self.assertLen(os.listdir(self.cache), 4)
        self.assertEqual(encoder.calls, 3)
        x, _ = self._extract(encoder, max_examples=5)
        self.assertLen(x, 5)
        self.assertEqual(encoder.calls, 3)

    def test_no_cache_without_fingerprint_or_when_disabled(self):
        self._extract(_FakeEncoder(fingerprint=""))
        self._extract(_FakeEncoder(), use_cache=False)
        self.assertEmpty(os.listdir(self.cache))

    def test_transfer_resizes_and_expands_grayscale(self):
        gray = np.random.default_rng(0).integers(0, 256, (10, 28, 28), np.uint8)
        encoder = _FakeEncoder(image_size=16)
        seen = []
        load_source = data_lib.load_source

        def spy(config, split=None, arrays=None):
            seen.append(config.image_size)
            return load_source(config, split, arrays=arrays)

        data_lib.load_source = spy
        self.addCleanup(setattr, data_lib, "load_source", load_source)
        x, _ = self._extract(encoder, arrays=(gray, np.arange(10) % 2))
        self.assertEqual(seen, [16])
        self.assertEqual(encoder.sizes[0], (16, 16, 3))
        # Gray input: the three colour channels are equal.
        self.assertAllClose(x[:, 0], x[:, 1])

    def test_embed_images_with_keras_model_in_batches(self):
        model = keras.Sequential(
            [
                keras.Input((None, None, 3)),
                keras.layers.GlobalAveragePooling2D(),
            ]
        )
        images = tiny_images(7, size=4)
        got = features.embed_images(model, images, batch_size=3)
        self.assertAllClose(got, images.mean(axis=(1, 2)) / 255.0, atol=1e-6)
