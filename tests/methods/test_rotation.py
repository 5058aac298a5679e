"""Tests for `ssl_tf.methods.rotation`."""

import numpy as np
import tensorflow as tf

from ssl_tf.config import AugmentConfig, ConfigError, ExperimentConfig
from ssl_tf.methods import rotation
from ssl_tf.testing import TestCase, fit_two_steps, tiny_encoder, tiny_images


def rotation_views(recipe, n=3, size=16):
    views = rotation.Rotation.make_views(
        AugmentConfig(),
        size,
        seed=0,
        method_config=rotation.RotationConfig(recipe=recipe),
    )
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


class RotationModelTest(TestCase):
    def test_loss_and_accuracy_match_numpy(self):
        model = rotation.Rotation(tiny_encoder(), rotation.RotationConfig())
        _, batch = rotation_views("none", n=4)
        loss = model.compute_ssl_loss(batch, training=False)
        logits = model.classifier(model.encoder(batch["images"])).numpy()
        labels = batch["labels"].numpy()
        self.assertAllClose(
            loss, numpy_cross_entropy(logits, labels).mean(), atol=1e-5
        )
        accuracy = np.mean(np.argmax(logits, axis=1) == labels)
        self.assertAllClose(model.rotation_accuracy.result(), accuracy)

    def test_fit_two_steps(self):
        model = rotation.Rotation(tiny_encoder(), rotation.RotationConfig())
        _, batch = rotation_views("crop_flip", n=4)
        history = fit_two_steps(model, batch)
        self.assertTrue(np.isfinite(history["loss"][0]))
        self.assertIn("rotation_accuracy", history)


class RotationConfigTest(TestCase):
    def test_invalid_recipe(self):
        config = ExperimentConfig(
            method="rotation", method_options={"recipe": "strong"}
        )
        with self.assertRaisesRegex(
            ConfigError, r"`recipe` must be one of .*Received: recipe='strong'"
        ):
            config.validate()
