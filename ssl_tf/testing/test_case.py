"""`TestCase`: `tf.test.TestCase` + `absl.parameterized.TestCase`."""

import os
import sys

import keras
import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from ssl_tf import export
from ssl_tf import registry as registry_lib
from ssl_tf.testing.configs import smoke_config
from ssl_tf.training import run


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


class _InitialEncoderWeights(keras.callbacks.Callback):
    """Keeps the encoder's trainable weights as `fit` starts."""

    def on_train_begin(self, logs=None):
        self.weights = {
            w.path: w.numpy().copy()
            for w in self.model.encoder.trainable_weights
        }


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

    def add_module_file(self, package, source, registry, name):
        """Writes `source` as a new module of `package`, as a user would.

        The file goes to a temporary directory added to the package's path,
        and `ssl_tf.registry.import_submodules` imports it (it registers
        `name` in `registry`). Path, module and registration are removed
        when the test ends.

        Args:
            package: an extension package
                (`ssl_tf.methods`, `ssl_tf.presets`).
            source: the module's code.
            registry: the `ssl_tf.registry.Registry` the module fills.
            name: the name it registers; the file is `name` in snake_case.
        """
        directory = self.get_temp_dir()
        module = name.replace("-", "_")
        with open(os.path.join(directory, f"{module}.py"), "w") as handle:
            handle.write(source)
        package.__path__.append(directory)
        self.addCleanup(sys.modules.pop, f"{package.__name__}.{module}", None)
        self.addCleanup(registry.unregister, name)
        self.addCleanup(package.__path__.remove, directory)
        registry_lib.import_submodules(package.__name__, package.__path__)

    def run_method_smoke(self, method, **overrides):
        """Pretrains `method` for 2 steps and checks the run and its export.

        The `smoke` config (`ssl_tf.testing.smoke_config`: batch 8 of
        16 px images, a width-1/8 ResNet-18) on 32 random images with 4
        labels, under this test's temporary directory. Checks that every
        logged loss is finite, that the step changed every trainable
        encoder weight, and that the reloaded export embeds images (of the
        training size and another) as the trained encoder does.

        Args:
            method: a registered method name.
            **overrides: dotted config keys, as `smoke_config` takes them.

        Returns:
            The `PretrainResult`, for method-specific checks.
        """
        config = smoke_config(self.get_temp_dir(), method, **overrides)
        initial = _InitialEncoderWeights()
        result = run.pretrain(
            config,
            arrays=(tiny_images(32, 16), np.arange(32) % 4),
            extra_callbacks=[initial],
            verbose=0,
        )
        self.assertAllEqual(
            np.isfinite(result.history["loss"]), [True] * config.train.epochs
        )
        unchanged = [
            w.path
            for w in result.model.encoder.trainable_weights
            if np.array_equal(w.numpy(), initial.weights[w.path])
        ]
        self.assertEqual(unchanged, [])
        encoder = export.load_encoder(result.export_dir)
        images = tiny_images(4)
        expected = result.model.encoder(
            tf.cast(images, tf.float32) / 255.0, training=False
        )
        self.assertAllClose(encoder.embed(images), expected, atol=1e-4)
        other_size = encoder.embed(np.zeros((2, 50, 70, 3), np.uint8))
        self.assertEqual(tuple(other_size.shape), (2, expected.shape[-1]))
        return result
