"""Tests for `ssl_tf.methods.supervised`."""

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from ssl_tf import augment
from ssl_tf.config import AugmentConfig, ConfigError, ExperimentConfig
from ssl_tf.methods import supervised
from ssl_tf.testing import TestCase, fit_two_steps, tiny_encoder, tiny_images


def labeled_batch(recipe, n=8, size=16):
    views = supervised.Supervised.make_views(
        AugmentConfig(),
        size,
        seed=0,
        method_config=supervised.SupervisedConfig(recipe=recipe),
    )
    images = tiny_images(n, size)
    labels = np.arange(n) % 3
    batch = {"images": images, "labels": labels}
    return images, labels, views(batch, seed=tf.constant([3, 4]))


class LabeledViewTest(TestCase):
    def test_labels_pass_through_and_no_recipe_rescales(self):
        images, labels, out = labeled_batch("none")
        self.assertEqual(sorted(out), ["images", "labels"])
        self.assertAllEqual(out["labels"], labels)
        self.assertAllClose(out["images"], images / 255.0)

    @parameterized.named_parameters(
        ("simclr", "simclr"), ("crop_flip", "crop_flip")
    )
    def test_recipes(self, recipe):
        images, labels, out = labeled_batch(recipe)
        self.assertEqual(tuple(out["images"].shape), (8, 16, 16, 3))
        self.assertAllEqual(out["labels"], labels)
        self.assertNotAllClose(out["images"], images / 255.0)

    def test_default_recipe_is_simclr(self):
        views = supervised.Supervised.make_views(AugmentConfig(), 16, seed=0)
        self.assertGreater(views.recipe.jitter_strength, 0.0)

    def test_config_round_trip(self):
        layer = augment.LabeledView()
        self.assertEqual(
            augment.LabeledView.from_config(layer.get_config()).recipe,
            None,
        )


class SupervisedModelTest(TestCase):
    def test_needs_labels(self):
        self.assertTrue(supervised.Supervised.needs_labels)

    def test_loss_and_accuracy_match_numpy(self):
        model = supervised.Supervised(
            tiny_encoder(), supervised.SupervisedConfig(), num_classes=3
        )
        _, labels, batch = labeled_batch("none")
        loss = model.compute_ssl_loss(batch, training=False)
        logits = model.classifier(model.encoder(batch["images"])).numpy()
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
        expected = -log_probs[np.arange(8), labels].mean()
        self.assertAllClose(loss, expected, atol=1e-5)
        self.assertAllClose(
            model.accuracy.result(), np.mean(logits.argmax(1) == labels)
        )

    def test_fit_two_steps(self):
        model = supervised.Supervised(
            tiny_encoder(), supervised.SupervisedConfig(), num_classes=3
        )
        _, _, batch = labeled_batch("crop_flip")
        history = fit_two_steps(model, batch)
        self.assertTrue(np.isfinite(history["loss"][0]))
        self.assertIn("accuracy", history)


class SupervisedConfigTest(TestCase):
    def test_invalid_recipe(self):
        config = ExperimentConfig(
            method="supervised", method_options={"recipe": "autoaugment"}
        )
        with self.assertRaisesRegex(
            ConfigError, r"`recipe` must be one of .*recipe='autoaugment'"
        ):
            config.validate()
