import numpy as np
import tensorflow as tf

from ssl_tf import augment
from ssl_tf.config import AugmentConfig
from ssl_tf.testing import TestCase, tiny_images


def _seed(i):
    return augment.batch_seed(0, i)


class RandomResizedCropTest(TestCase):
    def test_layer_checks(self):
        self.run_layer_checks(
            augment.RandomResizedCrop(8, 8, seed=1), (4, 16, 16, 3)
        )

    def test_boxes_respect_scale_and_ratio(self):
        layer = augment.RandomResizedCrop(
            8, 8, scale=(0.2, 0.5), ratio=(0.5, 2.0)
        )
        boxes = layer.sample_boxes(
            2000, 1.0, augment.seeding.StatelessSeed(_seed(0))
        ).numpy()
        h, w = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        self.assertTrue(np.all(boxes >= -1e-6) and np.all(boxes <= 1 + 1e-6))
        self.assertAllInRange(h * w, 0.2 - 1e-5, 0.5 + 1e-5)
        self.assertAllInRange(w / h, 0.5 - 1e-5, 2.0 + 1e-5)

    def test_full_scale_crop_is_identity(self):
        layer = augment.RandomResizedCrop(
            16, 16, scale=(1.0, 1.0), ratio=(1.0, 1.0)
        )
        images = tiny_images(2).astype("float32")
        self.assertAllClose(layer(images, seed=_seed(1)), images, atol=1e-3)

    def test_each_image_gets_its_own_box(self):
        layer = augment.RandomResizedCrop(8, 8)
        boxes = layer.sample_boxes(
            16, 1.0, augment.seeding.StatelessSeed(_seed(2))
        )
        # 16 images, 16 different top edges (seeded: pinned).
        self.assertLen(np.unique(boxes.numpy()[:, 0].round(5)), 16)


class ColorTest(TestCase):
    def test_color_jitter_layer_checks(self):
        self.run_layer_checks(augment.ColorJitter(0.5, seed=1), (4, 8, 8, 3))

    def test_random_apply_rate_zero_and_one(self):
        images = tf.random.uniform((8, 4, 4, 3), seed=1)
        jitter = augment.ColorJitter(1.0)
        never = augment.RandomApply(jitter, rate=0.0)
        always = augment.RandomApply(jitter, rate=1.0)
        self.assertAllClose(never(images, seed=_seed(3)), images)
        self.assertAllClose(
            always(images, seed=_seed(3)),
            jitter(images, seed=augment.seeding.derive(_seed(3), 2)),
        )

    def test_random_apply_is_per_image(self):
        # Constant grey images: jitter changes them, so rows that changed
        # show which images the coin picked.
        images = tf.fill((64, 4, 4, 3), 0.5)
        layer = augment.RandomApply(augment.ColorJitter(1.0), rate=0.5)
        changed = np.any(
            np.abs(layer(images, seed=_seed(4)).numpy() - 0.5) > 1e-4,
            axis=(1, 2, 3),
        )
        coins = layer.get_random_transformation(images, _seed(4))["applied"]
        self.assertAllEqual(changed, np.asarray(coins).astype(bool))
        self.assertEqual(int(changed.sum()), 30)  # seeded: 30 of 64 heads


class SimCLRAugmentTest(TestCase):
    def _recipe(self, **kwargs):
        return augment.simclr_recipe(AugmentConfig(**kwargs), 16, seed=3)

    def test_output_format(self):
        out = self._recipe()(tiny_images(4, 24), seed=_seed(0))
        self.assertEqual(out.shape, (4, 16, 16, 3))
        self.assertEqual(out.dtype, tf.float32)
        self.assertAllInRange(out, 0.0, 1.0)

    def test_same_seed_same_views_other_seed_other_views(self):
        recipe, images = self._recipe(), tiny_images(4)
        a = recipe(images, seed=_seed(5))
        self.assertAllClose(a, recipe(images, seed=_seed(5)))
        self.assertNotAllClose(a, recipe(images, seed=_seed(6)))

    def test_per_image_randomness(self):
        # One image repeated: different outputs prove per-image parameters.
        images = np.repeat(tiny_images(1), 8, axis=0)
        out = self._recipe()(images, seed=_seed(7)).numpy()
        distinct = {out[i].round(4).tobytes() for i in range(8)}
        self.assertLen(distinct, 8)

    def test_eager_equals_tf_data(self):
        recipe, images = (
            self._recipe(blur=True, solarize_prob=0.5),
            tiny_images(4),
        )
        eager = recipe(images, seed=_seed(8))
        dataset = tf.data.Dataset.from_tensors(images).map(
            lambda x: recipe(x, seed=_seed(8))
        )
        self.assertAllClose(eager, next(iter(dataset)), atol=1e-5)

    def test_blur_defaults_on_only_for_large_images(self):
        small = augment.simclr_recipe(AugmentConfig(), 32)
        large = augment.simclr_recipe(AugmentConfig(), 64)
        self.assertFalse(small.blur)
        self.assertTrue(large.blur)

    def test_config_round_trip(self):
        recipe = self._recipe(solarize_prob=0.2)
        rebuilt = augment.SimCLRAugment.from_config(recipe.get_config())
        self.assertEqual(rebuilt.get_config(), recipe.get_config())

    def test_keras_cv_backend_builds_same_shapes(self):
        recipe = self._recipe(backend="keras_cv")
        self.assertEqual(recipe(tiny_images(2)).shape, (2, 16, 16, 3))


class TwoViewsTest(TestCase):
    def test_two_different_views_and_labels_pass_through(self):
        views = augment.TwoViews(augment.simclr_recipe(AugmentConfig(), 16))
        batch = {"images": tiny_images(4), "labels": np.arange(4)}
        out = views(batch, seed=_seed(9))
        self.assertEqual(set(out), {"view_1", "view_2", "labels"})
        self.assertNotAllClose(out["view_1"], out["view_2"])
        self.assertAllEqual(out["labels"], np.arange(4))

    def test_inside_tf_data_batches_differ(self):
        views = augment.TwoViews(augment.simclr_recipe(AugmentConfig(), 16))
        images = np.repeat(tiny_images(1), 4, axis=0)
        dataset = (
            tf.data.Dataset.from_tensors({"images": images})
            .repeat(2)
            .enumerate()
            .map(lambda i, b: views(b, seed=augment.batch_seed(0, i)))
        )
        first, second = list(dataset)
        self.assertNotAllClose(first["view_1"], second["view_1"])


class FourRotationsTest(TestCase):
    def test_rotations_match_numpy_rot90(self):
        images = tiny_images(3)
        out = augment.FourRotations()({"images": images})
        rotated = (out["images"].numpy() * 255).round().astype(np.uint8)
        labels = out["labels"].numpy()
        for row, label in enumerate(labels):
            self.assertAllEqual(
                rotated[row], np.rot90(images[row % 3], k=label)
            )
        self.assertAllEqual(np.bincount(labels), [3, 3, 3, 3])
