"""Tests for `ssl_tf.models.heads`."""

import os

import keras
import numpy as np
from absl.testing import parameterized

from ssl_tf.models import heads
from ssl_tf.testing import TestCase


class ProjectionHeadTest(TestCase):
    @parameterized.named_parameters(
        ("simclr_v1", (16, 8), True),
        ("simclr_v2", (16, 16, 8), True),
        ("moco_v2", (16, 8), False),
    )
    def test_layer_checks(self, units, final_batch_norm):
        head = heads.ProjectionHead(
            units, final_batch_norm=final_batch_norm, seed=0
        )
        eager, _ = self.run_layer_checks(head, (4, 32))
        self.assertEqual(tuple(eager.shape), (4, units[-1]))
        self.assertEqual(head.compute_output_shape((4, 32)), (4, units[-1]))
        self.assertEqual(head.get_config()["units"], units)

    def test_simclr_v2_structure(self):
        head = heads.ProjectionHead((16, 16, 8), seed=0)
        head.build((None, 32))
        self.assertFalse(any(dense.use_bias for dense in head.dense_layers))
        self.assertEqual(
            [bn.center for bn in head.batch_norms], [True, True, False]
        )
        self.assertTrue(all(bn.synchronized for bn in head.batch_norms))
        # 32*16 + 16*16 + 16*8 kernels; gammas and betas: 2*16 + 2*16 + 8.
        self.assertEqual(
            sum(int(np.prod(w.shape)) for w in head.trainable_weights),
            32 * 16 + 16 * 16 + 16 * 8 + 2 * 16 + 2 * 16 + 8,
        )

    def test_no_final_batch_norm(self):
        head = heads.ProjectionHead((16, 8), final_batch_norm=False, seed=0)
        head.build((None, 32))
        self.assertIsNone(head.batch_norms[-1])
        self.assertTrue(head.dense_layers[-1].use_bias)

    def test_hidden_relu_and_training_mode(self):
        head = heads.ProjectionHead((16, 8), seed=0)
        inputs = np.random.default_rng(0).normal(size=(64, 32))
        projections = head(inputs, training=True)
        # The last BN has no ReLU after it and no offset: zero batch mean.
        self.assertAllClose(
            np.mean(projections, axis=0), np.zeros(8), atol=1e-5
        )
        self.assertLess(float(np.min(projections)), 0.0)

    def test_same_seed_same_weights(self):
        first = heads.ProjectionHead((16, 8), seed=1)
        second = heads.ProjectionHead((16, 8), seed=1)
        first.build((None, 32))
        second.build((None, 32))
        for a, b in zip(first.get_weights(), second.get_weights(), strict=True):
            self.assertAllEqual(a, b)

    def test_save_and_load(self):
        inputs = keras.Input((32,))
        model = keras.Model(
            inputs, heads.ProjectionHead((16, 8), seed=0)(inputs)
        )
        path = os.path.join(self.get_temp_dir(), "head.keras")
        model.save(path)
        restored = keras.models.load_model(path)
        x = np.ones((2, 32), "float32")
        self.assertAllClose(restored(x), model(x))

    def test_invalid_units(self):
        with self.assertRaisesRegex(ValueError, "`units` must be"):
            heads.ProjectionHead(())
        with self.assertRaisesRegex(ValueError, "units=\\(16, 0\\)"):
            heads.ProjectionHead((16, 0))


class ClassificationHeadTest(TestCase):
    def test_layer_checks(self):
        head = heads.ClassificationHead(num_classes=10, seed=0)
        eager, _ = self.run_layer_checks(head, (4, 32))
        self.assertEqual(tuple(eager.shape), (4, 10))
        self.assertEqual(head.get_config()["num_classes"], 10)
        # Logits, not probabilities: rows do not sum to one.
        self.assertNotAllClose(np.sum(eager, axis=-1), np.ones(4))

    def test_same_seed_same_weights(self):
        first = heads.ClassificationHead(3, seed=2)
        second = heads.ClassificationHead(3, seed=2)
        first.build((None, 8))
        second.build((None, 8))
        self.assertAllEqual(first.dense.kernel, second.dense.kernel)

    def test_invalid_num_classes(self):
        with self.assertRaisesRegex(ValueError, "num_classes=0"):
            heads.ClassificationHead(0)
