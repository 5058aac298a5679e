"""The device path's fixed-shape augmentation: same images, and XLA."""

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from ssl_tf import augment
from ssl_tf.augment import crop, seeding
from ssl_tf.config import AugmentConfig
from ssl_tf.testing import TestCase, smoke_config, tiny_images
from ssl_tf.training import run


def _xla(fn):
    return tf.function(
        tf.autograph.experimental.do_not_convert(fn), jit_compile=True
    )


class MatmulCropTest(TestCase):
    @parameterized.parameters((8, 8), (5, 11), (1, 1))
    def test_matches_crop_and_resize(self, height, width):
        images = tf.random.uniform((6, 13, 9, 3), seed=1)
        corners = tf.sort(tf.random.uniform((6, 2, 2), seed=2), axis=1)
        boxes = tf.reshape(tf.transpose(corners, [0, 2, 1]), (6, 4))
        boxes = tf.gather(boxes, [0, 2, 1, 3], axis=1)
        expected = tf.image.crop_and_resize(
            images, boxes, tf.range(6), (height, width)
        )
        got = crop.crop_and_resize_by_matmul(images, boxes, height, width)
        self.assertAllClose(got, expected, atol=1e-5)
        compiled = _xla(
            lambda x, b: crop.crop_and_resize_by_matmul(x, b, height, width)
        )
        self.assertAllClose(compiled(images, boxes), expected, atol=1e-5)


class StaticRecipeTest(TestCase):
    def _recipes(self):
        options = dict(blur=True, solarize_prob=0.3, jitter_strength=1.0)
        host = augment.simclr_recipe(AugmentConfig(**options), 12)
        device = augment.simclr_recipe(
            AugmentConfig(placement="device", **options), 12
        )
        return host, device

    def test_device_recipe_has_static_shapes(self):
        host, device = self._recipes()
        self.assertFalse(host.static_shapes)
        self.assertTrue(device.static_shapes)
        self.assertTrue(all(step.static_shapes for step in device.steps))

    def test_same_images_as_the_host_recipe_eager_and_under_xla(self):
        host, device = self._recipes()
        images = tiny_images(16, 20)
        seed = augment.batch_seed(0, 5)
        expected = host(images, seed=seed)
        self.assertAllClose(device(images, seed=seed), expected, atol=1e-5)
        compiled = _xla(lambda x, s: device(x, seed=s))
        self.assertAllClose(compiled(images, seed), expected, atol=1e-5)


class XlaDrawsTest(TestCase):
    def test_uniform_draws_equal_with_and_without_xla(self):
        seed = tf.constant([3, 4], tf.int32)
        draw = lambda s: seeding.stateless_uniform((4000,), s, -1.0, 3.0)  # noqa: E731
        eager = draw(seed).numpy()
        self.assertAllEqual(eager, _xla(draw)(seed).numpy())
        # Uniform on [-1, 3): mean 1, variance 16 / 12.
        self.assertNear(eager.mean(), 1.0, 0.06)
        self.assertNear(eager.var(), 4 / 3, 0.06)
        self.assertGreaterEqual(eager.min(), -1.0)
        self.assertLess(eager.max(), 3.0)


class DeviceXlaFitTest(TestCase):
    def test_device_placement_trains_with_xla(self):
        config = smoke_config(
            self.get_temp_dir(),
            name="xla",
            **{"augment.placement": "device", "train.jit_compile": "true"},
        )
        result = run.pretrain(
            config, arrays=(tiny_images(32), None), do_export=False, verbose=0
        )
        self.assertTrue(np.isfinite(result.history["loss"]).all())
        self.assertEqual(int(result.model.optimizer.iterations), 2)
