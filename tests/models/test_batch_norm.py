"""The fused BatchNormalization computes what Keras's computes."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from absl.testing import parameterized

from ssl_tf.models.batch_norm import BatchNormalization
from ssl_tf.testing import TestCase, mirrored_strategy


def _pair(**kwargs):
    """A fused layer and a stock Keras layer with the same weights."""
    kwargs = {"momentum": 0.9, "epsilon": 1e-5, **kwargs}
    fused = BatchNormalization(**kwargs)
    stock = keras.layers.BatchNormalization(**kwargs)
    return fused, stock


def _train_step(layer, x, upstream):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        loss = tf.reduce_sum(tf.cast(y, tf.float32) * upstream)
    grads = tape.gradient(loss, [x] + layer.trainable_weights)
    return y, grads


class FusedBatchNormTest(TestCase):
    @parameterized.named_parameters(
        ("conv", (6, 5, 4, 3), {}),
        ("dense", (16, 7), {}),
        ("no_center", (6, 5, 4, 3), {"center": False}),
        ("no_scale", (16, 7), {"scale": False}),
        ("synchronized_one_replica", (6, 5, 4, 3), {"synchronized": True}),
    )
    def test_training_matches_keras(self, shape, kwargs):
        fused, stock = _pair(**kwargs)
        x = tf.random.normal(shape, seed=1) * 3.0 + 1.0
        upstream = tf.random.normal(shape, seed=2)
        for layer in (fused, stock):
            layer.build(shape)
            if layer.scale:
                layer.gamma.assign(tf.linspace(0.5, 1.5, shape[-1]))
            if layer.center:
                layer.beta.assign(tf.linspace(-1.0, 1.0, shape[-1]))
        y_fused, g_fused = _train_step(fused, x, upstream)
        y_stock, g_stock = _train_step(stock, x, upstream)
        self.assertAllClose(y_fused, y_stock, atol=1e-5)
        for a, b in zip(g_fused, g_stock, strict=True):
            self.assertAllClose(a, b, atol=1e-4)
        # Biased variance in the moving average, as Keras.
        flat = x.numpy().reshape(-1, shape[-1])
        self.assertAllClose(fused.moving_mean, 0.1 * flat.mean(0), atol=1e-5)
        self.assertAllClose(
            fused.moving_variance, 0.9 + 0.1 * flat.var(0), atol=1e-5
        )
        self.assertAllClose(fused.moving_variance, stock.moving_variance)

    @parameterized.named_parameters(
        ("one_replica", True, "FusedBatchNormV3"),
        ("unsynchronized", False, "FusedBatchNormV3"),
    )
    def test_training_runs_the_fused_kernel(self, synchronized, op):
        layer = BatchNormalization(synchronized=synchronized)
        layer.build((None, 4, 4, 3))
        graph = (
            tf.function(lambda x: layer(x, training=True))
            .get_concrete_function(tf.TensorSpec((2, 4, 4, 3)))
            .graph
        )
        types = {node.op for node in graph.as_graph_def().node}
        self.assertIn(op, types)
        self.assertNotIn("Mean", types)

    def test_inference_uses_moving_statistics(self):
        fused, stock = _pair()
        x = tf.random.normal((4, 3, 3, 2), seed=3)
        for layer in (fused, stock):
            layer.build(x.shape)
            layer.moving_mean.assign([0.5, -0.5])
            layer.moving_variance.assign([4.0, 0.25])
        self.assertAllClose(fused(x), stock(x), atol=1e-6)
        self.assertAllClose(
            fused(x)[..., 0], (x[..., 0] - 0.5) / np.sqrt(4.0 + 1e-5)
        )

    def test_bfloat16_activations_stay_bfloat16(self):
        layer = BatchNormalization(dtype="mixed_bfloat16")
        x = tf.random.normal((8, 4, 4, 3), seed=4) * 2.0 + 3.0
        y = layer(tf.cast(x, tf.bfloat16), training=True)
        self.assertEqual(y.dtype, tf.bfloat16)
        self.assertEqual(layer.moving_mean.dtype, "float32")
        reference = (x - tf.reduce_mean(x, (0, 1, 2))) / tf.math.reduce_std(
            x, (0, 1, 2)
        )
        # bfloat16 keeps 8 bits of mantissa: ~1% relative.
        self.assertAllClose(tf.cast(y, tf.float32), reference, atol=0.05)

    def test_one_value_per_channel_gives_zero_variance(self):
        layer = BatchNormalization(momentum=0.0)
        layer(tf.ones((1, 5)), training=True)
        self.assertAllClose(layer.moving_variance, np.zeros(5))

    def test_config_and_weights_interchange_with_keras(self):
        fused, stock = _pair(synchronized=True, center=False)
        self.assertEqual(
            {k: v for k, v in fused.get_config().items() if k != "name"},
            {k: v for k, v in stock.get_config().items() if k != "name"},
        )
        fused.build((None, 4))
        stock.build((None, 4))
        self.assertEqual(
            [w.path.split("/")[-1] for w in fused.weights],
            [w.path.split("/")[-1] for w in stock.weights],
        )
        rebuilt = BatchNormalization.from_config(fused.get_config())
        self.assertIsInstance(rebuilt, BatchNormalization)

    @pytest.mark.distributed
    def test_two_replicas_use_global_statistics(self):
        # Synchronized on 2 replicas: the parent's all-reduce path, so each
        # replica normalizes with the statistics of the whole batch.
        x = tf.concat(
            [tf.random.normal((4, 3), seed=5), tf.random.normal((4, 3)) + 5.0],
            axis=0,
        )
        one = BatchNormalization(synchronized=True)
        expected = one(x, training=True)
        strategy = mirrored_strategy()
        with strategy.scope():
            layer = BatchNormalization(synchronized=True)
            layer.build((None, 3))
        dataset = strategy.experimental_distribute_dataset(
            tf.data.Dataset.from_tensors(x)
        )

        @tf.function
        def forward(batch):
            return layer(batch, training=True)

        out = strategy.run(forward, args=(next(iter(dataset)),))
        out = tf.concat(strategy.experimental_local_results(out), axis=0)
        self.assertAllClose(out, expected, atol=1e-5)
        self.assertAllClose(layer.moving_mean, one.moving_mean, atol=1e-6)
