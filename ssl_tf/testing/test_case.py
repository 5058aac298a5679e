"""`TestCase`: `tf.test.TestCase` + `absl.parameterized.TestCase`."""

import keras
import numpy as np
import tensorflow as tf
from absl.testing import parameterized


def tiny_images(n=8, size=16, seed=0, channels=3):
    """Random uint8 images of shape `(n, size, size, channels)`."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, size, size, channels), dtype=np.uint8)


def colour_classes(n, seed, classes=3, size=16):
    """Images whose label `i % classes` is their dominant colour channel.

    Returns `(images, labels)`: uint8 `(n, size, size, 3)` images of noise
    in `[0, 80)` with 170 added to the label's channel, and int labels.
    """
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % classes
    images = rng.integers(0, 80, (n, size, size, 3))
    images[np.arange(n), :, :, labels] += 170
    return images.astype(np.uint8), labels


class TestCase(tf.test.TestCase, parameterized.TestCase):
    """Base class for ssl_tf tests.

    Every test starts under Keras's float32 policy: `pretrain` sets the
    global mixed-precision policy of its config, which would otherwise
    leak into the tests that follow.
    """

    def setUp(self):
        super().setUp()
        keras.mixed_precision.set_global_policy("float32")

    def run_layer_checks(self, layer, input_shape, dtype="float32"):
        """Output shape, config round trip, eager and inside `tf.data.map`."""
        inputs = tf.random.uniform(input_shape, dtype=dtype)
        eager = layer(inputs)
        rebuilt = layer.__class__.from_config(layer.get_config())
        self.assertEqual(rebuilt.get_config(), layer.get_config())
        dataset = tf.data.Dataset.from_tensors(inputs).map(layer)
        in_graph = next(iter(dataset))
        shapes = tf.nest.map_structure(lambda t: tuple(t.shape), eager)
        self.assertEqual(
            shapes, tf.nest.map_structure(lambda t: tuple(t.shape), in_graph)
        )
        return eager, in_graph
