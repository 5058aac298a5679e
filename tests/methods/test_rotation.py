"""Tests for `ssl_tf.methods.rotation`."""

import numpy as np
import tensorflow as tf

from ssl_tf.config import AugmentConfig
from ssl_tf.methods import rotation
from ssl_tf.testing import TestCase, tiny_images


def rotation_views(recipe, n=3, size=16):
    config = rotation.RotationConfig(recipe=recipe)
    views = rotation.Rotation.make_views(AugmentConfig(), size, 0, config)
    images = tiny_images(n, size)
    return images, views({"images": images}, seed=tf.constant([1, 2]))


def numpy_cross_entropy(logits, labels):
    logits = logits - logits.max(axis=1, keepdims=True)
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return -log_probs[np.arange(len(labels)), labels]


class RotationViewsTest(TestCase):
    def test_rotated_copies_are_rot90_of_the_images(self):
        images, out = rotation_views("none", n=3)
        self.assertEqual(tuple(out["images"].shape), (12, 16, 16, 3))
        for row, (image, label) in enumerate(
            zip(out["images"].numpy(), out["labels"].numpy(), strict=True)
        ):
            expected = np.rot90(images[row % 3] / 255.0, k=label)
            self.assertAllClose(image, expected, atol=1e-6)
        self.assertAllEqual(out["labels"], np.repeat(np.arange(4), 3))

    def test_recipe_is_applied_before_rotating(self):
        images, out = rotation_views("crop_flip", n=3)
        rotated = out["images"].numpy()
        self.assertEqual(rotated.shape, (12, 16, 16, 3))
        for k in range(4):
            for i in range(3):
                self.assertAllClose(
                    rotated[k * 3 + i], np.rot90(rotated[i], k), atol=1e-6
                )
        # The crop changed the images: not just a rescaling.
        self.assertNotAllClose(rotated[:3], images / 255.0)

    def test_default_recipe_is_crop_flip_without_colour(self):
        views = rotation.Rotation.make_views(AugmentConfig(), 16, seed=0)
        self.assertIsNotNone(views.recipe)
        self.assertEqual(views.recipe.jitter_strength, 0.0)
        self.assertEqual(views.recipe.grayscale_prob, 0.0)
