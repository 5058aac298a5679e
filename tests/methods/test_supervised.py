"""Tests for `ssl_tf.methods.supervised`."""

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from ssl_tf import augment
from ssl_tf.config import AugmentConfig
from ssl_tf.methods import supervised
from ssl_tf.testing import TestCase, tiny_images


def labeled_batch(recipe, n=8, size=16):
    config = supervised.SupervisedConfig(recipe=recipe)
    views = supervised.Supervised.make_views(AugmentConfig(), size, 0, config)
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
        self.assertIs(supervised.Supervised.needs_labels, True)
