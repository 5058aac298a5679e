"""The dtype views leave the pipeline in: bfloat16 under mixed_bfloat16."""

from unittest import mock

import keras
import numpy as np
import pytest
import tensorflow as tf

from ssl_tf import data, methods
from ssl_tf.config import DataConfig
from ssl_tf.data import pipeline
from ssl_tf.data.sources import open_arrays
from ssl_tf.testing import TestCase, smoke_config, tiny_images
from ssl_tf.training import run


class CastImagesTest(TestCase):
    def test_only_floating_images_are_cast(self):
        element = {
            "view_1": tf.constant([[[[0.5, 0.25, 1 / 3]]]]),
            "images": tf.zeros((1, 1, 1, 3), tf.uint8),
            "labels": tf.constant([7], tf.int64),
            "weights": tf.constant([0.5]),
        }
        out = pipeline.cast_images(element, tf.bfloat16)
        self.assertEqual(out["view_1"].dtype, tf.bfloat16)
        # 1/3 rounds to bfloat16's 8 bits of mantissa.
        self.assertAllEqual(
            tf.cast(out["view_1"], tf.float32), [[[[0.5, 0.25, 0.333984375]]]]
        )
        for key in ("images", "labels", "weights"):
            self.assertIs(out[key], element[key])
        self.assertIs(pipeline.cast_images(element, None), element)


class PipelineDtypeTest(TestCase):
    def setUp(self):
        super().setUp()
        self.source = open_arrays(tiny_images(8, 16), np.arange(8))
        self.views = methods.get_method("simclr").views_for(
            smoke_config(self.get_temp_dir())
        )

    def first(self, views, image_dtype):
        dataset = data.pretrain_dataset(
            self.source,
            DataConfig(image_size=16, cache=True),
            batch_size=4,
            seed=1,
            views=views,
            image_dtype=image_dtype,
        )
        return next(iter(dataset))

    def test_views_leave_as_the_float32_views_rounded(self):
        full = self.first(self.views, None)
        half = self.first(self.views, tf.bfloat16)
        self.assertEqual(full["view_1"].dtype, tf.float32)
        self.assertEqual(half["view_1"].dtype, tf.bfloat16)
        self.assertEqual(half["labels"].dtype, tf.int64)
        for key in ("view_1", "view_2"):
            self.assertAllEqual(half[key], tf.cast(full[key], tf.bfloat16))

    def test_device_placement_batches_stay_uint8(self):
        batch = self.first(None, tf.bfloat16)
        self.assertEqual(batch["images"].dtype, tf.uint8)
        # The source's own rows, as the labels number them.
        images = tiny_images(8, 16)
        self.assertAllEqual(batch["images"], images[batch["labels"].numpy()])


@pytest.mark.large
class Bfloat16RunTest(TestCase):
    def train(self, cast):
        keras.utils.set_random_seed(0)
        config = smoke_config(
            self.get_temp_dir(),
            name=f"cast-{cast}",
            **{"train.mixed_precision": "bfloat16"},
        )
        calls = []

        def spy(element, dtype):
            calls.append(dtype)
            return real(element, dtype if cast else None)

        real = pipeline.cast_images
        try:
            with mock.patch.object(pipeline, "cast_images", spy):
                result = run.pretrain(
                    config,
                    arrays=(tiny_images(32, 16), np.arange(32) % 4),
                    verbose=0,
                    do_export=False,
                )
        finally:
            keras.mixed_precision.set_global_policy("float32")
        self.assertEqual(set(calls), {tf.bfloat16})
        return [w.numpy() for w in result.model.weights]

    def test_bfloat16_views_train_to_the_same_weights(self):
        # The encoder casts float32 views to bfloat16 first: casting them
        # in the pipeline rounds the same values, so nothing changes.
        with_cast, without = self.train(True), self.train(False)
        self.assertLen(with_cast, len(without))
        for a, b in zip(with_cast, without, strict=True):
            self.assertAllEqual(a, b)
