"""The augmentation recipe samples what SimCLR samples, per image.

Each test draws thousands of per-image parameters (or applies a layer to
constructed images) and compares them with the recipe (SimCLR appendix A,
`color_jitter_rand` in google-research/simclr). At `49bf421` every one of
these failed: stock Keras 3.15 layers drew contrast only above 1, blur with
one sigma per batch on ~25% of images, saturation skewed below 1, a fixed
jitter order, one crop offset per fine-tuning batch, and the same
augmentation on every replica.
"""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from ssl_tf import augment
from ssl_tf.augment import blur, color, crop
from ssl_tf.config import AugmentConfig
from ssl_tf.evaluation.finetune import crop_flip_augmentation
from ssl_tf.testing import TestCase, mirrored_strategy, tiny_images

DRAWS = 4000
# Kolmogorov-Smirnov critical value at alpha = 0.001: 1.95 / sqrt(n).
KS_CRITICAL = 1.95 / np.sqrt(DRAWS)


def _seed(i):
    return augment.batch_seed(0, i)


def _blank(n, size=2):
    # Parameters depend only on the batch shape: tiny images suffice.
    return tf.zeros((n, size, size, 3))


def _ks_uniform(values, low, high):
    """KS statistic of `values` against Uniform(low, high)."""
    values = np.sort(values)
    cdf = (values - low) / (high - low)
    n = len(values)
    above = np.arange(1, n + 1) / n - cdf
    below = cdf - np.arange(n) / n
    return max(above.max(), below.max())


class ColorJitterDistributionTest(TestCase):
    def setUp(self):
        super().setUp()
        self.jitter = color.ColorJitter(0.5)
        params = self.jitter.get_random_transformation(_blank(DRAWS), _seed(0))
        self.params = {k: v.numpy() for k, v in params.items()}

    def test_contrast_spans_both_sides_of_one(self):
        contrast = self.params["contrast"]
        self.assertAllInRange(contrast, 0.6, 1.4)
        self.assertBetween(np.mean(contrast < 1), 0.47, 0.53)
        self.assertNear(contrast.mean(), 1.0, 0.01)
        self.assertLess(_ks_uniform(contrast, 0.6, 1.4), KS_CRITICAL)

    def test_saturation_and_brightness_multipliers_are_uniform(self):
        for name in ("saturation", "brightness"):
            values = self.params[name]
            self.assertLess(_ks_uniform(values, 0.6, 1.4), KS_CRITICAL, name)
            self.assertBetween(np.mean(values < 1), 0.47, 0.53, name)

    def test_hue_shift_is_symmetric(self):
        self.assertLess(_ks_uniform(self.params["hue"], -0.1, 0.1), KS_CRITICAL)

    def test_all_24_orders_appear_about_equally(self):
        orders = [tuple(row) for row in self.params["order"]]
        counts = {p: orders.count(p) for p in itertools.permutations(range(4))}
        self.assertEqual(len(set(orders)), 24)
        expected = DRAWS / 24
        # Each count is Binomial(4000, 1/24): std ~ 12.6; 5 sigma bounds.
        self.assertAllInRange(
            list(counts.values()), expected - 63, expected + 63
        )

    def test_strength_one_clamps_the_lower_factor_at_zero(self):
        low, high = color.ColorJitter(1.0).factor_range()
        self.assertAllClose([low, high], [0.2, 1.8])
        self.assertAllClose(color.ColorJitter(2.0).factor_range(), [0.0, 2.6])


def _np_gray(x):
    return (x @ np.array([0.2989, 0.5870, 0.1140]))[..., None].repeat(3, -1)


def _np_hsv_hue(x, delta):
    hsv = tf.image.rgb_to_hsv(x[None]).numpy()[0]
    hsv[..., 0] = np.mod(hsv[..., 0] + delta, 1.0)
    return tf.image.hsv_to_rgb(hsv[None]).numpy()[0]


def _np_adjust(name, x, value):
    """NumPy reference of each adjustment on one image."""
    if name == "brightness":
        out = x * value
    elif name == "contrast":
        out = (x - x.mean(axis=(0, 1))) * value + x.mean(axis=(0, 1))
    elif name == "saturation":
        out = _np_gray(x) + (x - _np_gray(x)) * value
    else:
        out = _np_hsv_hue(x, value)
    return np.clip(out, 0, 1)


class ColorJitterTransformTest(TestCase):
    def test_each_image_follows_its_own_order_and_factors(self):
        images = tf.random.uniform((24, 6, 6, 3), seed=3)
        jitter = color.ColorJitter(1.0)
        params = jitter.get_random_transformation(images, _seed(1))
        # One image per order, so every order is checked.
        params["order"] = tf.constant(
            list(itertools.permutations(range(4))), tf.int32
        )
        out = jitter.transform_images(images, params).numpy()
        names = ("brightness", "contrast", "saturation", "hue")
        for i in range(24):
            expected = images[i].numpy()
            for step in params["order"][i].numpy():
                value = params[names[step]][i].numpy()
                expected = _np_adjust(names[step], expected, value)
            self.assertAllClose(out[i], expected, atol=2e-5)

    def test_order_matters(self):
        # Brightness then contrast differs from contrast then brightness
        # when clipping bites: the test above would pass a fixed order only
        # if the orders gave equal images.
        image = tf.constant([[[[0.9, 0.5, 0.1]]] * 2] * 1, tf.float32)
        image = tf.concat([image, image * 0.2], axis=2)
        jitter = color.ColorJitter(0.5)
        params = {
            "brightness": tf.constant([1.4, 1.4]),
            "contrast": tf.constant([1.4, 1.4]),
            "saturation": tf.constant([1.0, 1.0]),
            "hue": tf.constant([0.0, 0.0]),
            "order": tf.constant([[0, 1, 2, 3], [1, 0, 2, 3]], tf.int32),
        }
        out = jitter.transform_images(tf.concat([image, image], 0), params)
        self.assertNotAllClose(out[0], out[1])


class BlurTest(TestCase):
    def _recipe(self):
        return augment.SimCLRAugment(
            8,
            crop_scale=(1.0, 1.0),
            crop_ratio=(1.0, 1.0),
            flip=False,
            jitter_strength=0.0,
            grayscale_prob=0.0,
            blur=True,
        )

    def test_blur_is_applied_to_half_the_images_with_per_image_sigma(self):
        images = tf.zeros((DRAWS, 8, 8, 3), tf.uint8)
        _, params = self._recipe().augment_with_parameters(images, _seed(2))
        applied = params["blur"]["applied"].numpy()
        sigma = params["blur"]["inner"]["sigma"].numpy()
        self.assertBetween(applied.mean(), 0.47, 0.53)
        self.assertEqual(sigma.shape, (DRAWS,))
        self.assertLess(_ks_uniform(sigma, 0.1, 2.0), KS_CRITICAL)

    def test_sigma_is_the_same_on_both_axes_and_matches_numpy(self):
        # An impulse blurs into the kernel itself: a symmetric outer
        # product of 1-D Gaussians with the image's own sigma.
        impulse = np.zeros((3, 9, 9, 3), np.float32)
        impulse[:, 4, 4, :] = 1.0
        sigma = np.array([0.3, 1.0, 2.0], np.float32)
        out = blur.gaussian_blur(tf.constant(impulse), sigma, 5).numpy()
        for i, s in enumerate(sigma):
            g = np.exp(-(np.arange(-2, 3) ** 2) / (2 * s**2))
            kernel = np.outer(g, g) / g.sum() ** 2
            self.assertAllClose(out[i, 2:7, 2:7, 0], kernel, atol=1e-6)
            self.assertAllClose(out[i, ..., 0], out[i, ..., 0].T, atol=1e-7)
        # Three sigmas, three different results.
        self.assertNotAllClose(out[0], out[1])
        self.assertNotAllClose(out[1], out[2])

    def test_kernel_size_is_ten_percent_of_the_side(self):
        self.assertEqual(blur.kernel_size_for(32), 3)
        self.assertEqual(blur.kernel_size_for(224), 23)


class RowSeedTest(TestCase):
    def test_slices_draw_the_global_batch_rows(self):
        recipe = augment.simclr_recipe(AugmentConfig(blur=True), 8)
        images = tf.cast(tiny_images(8, 12), tf.uint8)
        seed = _seed(3)
        whole, whole_params = recipe.augment_with_parameters(images, seed)
        for replica in range(2):
            rows = slice(4 * replica, 4 * replica + 4)
            part, part_params = recipe.augment_with_parameters(
                images[rows], augment.RowSeed(seed, replica, 2)
            )
            self.assertAllClose(part, whole[rows], atol=1e-6)
            self.assertAllClose(
                part_params["crop"]["boxes"],
                whole_params["crop"]["boxes"][rows],
            )

    @pytest.mark.distributed
    def test_replicas_get_different_crops_equal_to_one_device(self):
        crop = augment.RandomResizedCrop(8, 8)
        images = tf.zeros((8, 12, 12, 3))
        seed = _seed(4)
        strategy = mirrored_strategy()
        dataset = strategy.experimental_distribute_dataset(
            tf.data.Dataset.from_tensors(images)
        )

        @tf.function
        def boxes(batch):
            return crop.get_random_transformation(
                batch, augment.replica_seed(seed)
            )["boxes"]

        per_replica = strategy.run(boxes, args=(next(iter(dataset)),))
        first, second = strategy.experimental_local_results(per_replica)
        self.assertNotAllClose(first, second)
        one_device = crop.get_random_transformation(images, seed)["boxes"]
        self.assertAllClose(tf.concat([first, second], 0), one_device)


class FineTuneCropTest(TestCase):
    def test_crop_offsets_differ_within_a_batch(self):
        layer = augment.RandomCrop(8, 8, padding=4)
        offsets = layer.get_random_transformation(_blank(DRAWS, 8), _seed(5))
        offsets = offsets["offsets"].numpy()
        # Uniform over the 9 x 9 positions.
        self.assertEqual(offsets.min(), 0)
        self.assertEqual(offsets.max(), 8)
        counts = np.bincount(offsets[:, 0] * 9 + offsets[:, 1], minlength=81)
        self.assertAllInRange(counts, DRAWS / 81 - 30, DRAWS / 81 + 30)

    def test_crop_copies_the_padded_window(self):
        images = tf.random.uniform((4, 6, 6, 3), seed=4)
        layer = augment.RandomCrop(6, 6, padding=2)
        params = {"offsets": tf.constant([[0, 0], [4, 4], [1, 3], [2, 2]])}
        out = layer.transform_images(images, params).numpy()
        padded = np.pad(images.numpy(), [(0, 0), (2, 2), (2, 2), (0, 0)])
        for i, (y, x) in enumerate(params["offsets"].numpy()):
            self.assertAllEqual(out[i], padded[i, y : y + 6, x : x + 6])
        self.assertAllEqual(out[3], images[3])

    def test_fine_tuning_augmentation_is_per_image(self):
        # One image repeated: a per-batch offset would give equal rows.
        augmentation = crop_flip_augmentation((8, 8), seed=1)
        images = tf.repeat(tf.random.uniform((1, 8, 8, 3), seed=5), 16, 0)
        out = augmentation(images).numpy()
        distinct = {out[i].round(5).tobytes() for i in range(16)}
        self.assertGreater(len(distinct), 8)


class FlipGrayscaleTest(TestCase):
    def test_flip_and_grayscale_rates_per_image(self):
        recipe = augment.SimCLRAugment(
            2, crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), blur=False
        )
        images = tf.zeros((DRAWS, 2, 2, 3), tf.uint8)
        _, params = recipe.augment_with_parameters(images, _seed(6))
        self.assertBetween(params["flip"]["flip"].numpy().mean(), 0.47, 0.53)
        self.assertBetween(
            params["grayscale"]["applied"].numpy().mean(), 0.18, 0.22
        )
        self.assertBetween(
            params["jitter"]["applied"].numpy().mean(), 0.78, 0.82
        )


class EmptySelectionTest(TestCase):
    def test_every_step_accepts_a_batch_where_no_image_is_picked(self):
        # RandomApply transforms only the picked images; with none picked
        # each transform gets an empty batch (reflect padding used to fail).
        images = tf.random.uniform((2, 8, 8, 3), seed=6)
        for layer in (
            blur.GaussianBlur(3),
            color.ColorJitter(0.5),
            color.Grayscale(),
            color.Solarize(),
        ):
            never = color.RandomApply(layer, rate=0.0)
            self.assertAllClose(never(images, seed=_seed(7)), images)

    def test_reflect_padding_matches_numpy(self):
        images = tf.random.uniform((2, 5, 6, 3), seed=7)
        sigma = tf.constant([0.7, 1.3])
        out = blur.gaussian_blur(images, sigma, 5).numpy()
        padded = np.pad(
            images.numpy(), [(0, 0), (2, 2), (2, 2), (0, 0)], "reflect"
        )
        for i, s in enumerate(sigma.numpy()):
            g = np.exp(-(np.arange(-2, 3) ** 2) / (2 * s**2))
            g /= g.sum()
            rows = sum(g[k] * padded[i, :, k : k + 6] for k in range(5))
            expected = sum(g[k] * rows[k : k + 5] for k in range(5))
            self.assertAllClose(out[i], expected, atol=1e-6)


class KerasCVBackendTest(TestCase):
    """The KerasCV comparison backend samples the same recipe."""

    def setUp(self):
        super().setUp()
        self.jitter = crop.KerasCVColorJitter(0.5, seed=11)
        self.brightness, self.contrast, self.saturation, _ = (
            self.jitter.adjustments
        )

    def test_saturation_multiplier_is_uniform_on_the_recipe_range(self):
        # RGB (0.8, 0.4, 0.4) has HSV saturation 0.5; multipliers up to
        # 1.4 leave it unclipped, so out / 0.5 is the multiplier drawn.
        image = tf.constant([0.8, 0.4, 0.4])[None, None, None]
        images = tf.tile(image, [DRAWS, 1, 1, 1])
        out = tf.image.rgb_to_hsv(self.saturation(images)).numpy()
        multiplier = out[:, 0, 0, 1] / 0.5
        self.assertLess(_ks_uniform(multiplier, 0.6, 1.4), KS_CRITICAL)
        self.assertBetween(np.mean(multiplier < 1), 0.47, 0.53)

    def test_contrast_factor_spans_both_sides_of_one(self):
        # Two pixels at 0.4 and 0.6: mean 0.5, deviation 0.1 each.
        image = tf.constant([[[0.4] * 3, [0.6] * 3]])[None]
        images = tf.tile(image, [DRAWS, 1, 1, 1])
        out = self.contrast(images).numpy()
        factor = (out[:, 0, 1, 0] - out[:, 0, 0, 0]) / 0.2
        self.assertLess(_ks_uniform(factor, 0.6, 1.4), KS_CRITICAL)
        self.assertNear(factor.mean(), 1.0, 0.01)

    def test_all_24_jitter_orders_appear(self):
        orders = self.jitter.sample_order(DRAWS).numpy()
        counts = {}
        for row in orders:
            counts[tuple(row)] = counts.get(tuple(row), 0) + 1
        self.assertEqual(len(counts), 24)
        self.assertAllInRange(
            list(counts.values()), DRAWS / 24 - 63, DRAWS / 24 + 63
        )

    def test_jitter_keeps_shape_and_range(self):
        images = tf.random.uniform((16, 6, 6, 3), seed=8)
        out = self.jitter(images)
        self.assertEqual(out.shape, images.shape)
        self.assertAllInRange(out, 0.0, 1.0)
        self.assertNotAllClose(out, images)
