"""Tests for the MAE method (`ssl_tf.methods.mae`)."""

import numpy as np
import pytest
import tensorflow as tf

from ssl_tf import export
from ssl_tf.augment import RowSeed
from ssl_tf.config import AugmentConfig, ConfigError, EncoderConfig
from ssl_tf.methods import mae
from ssl_tf.models import build_encoder
from ssl_tf.testing import TestCase, smoke_config, tiny_images

SEED = tf.constant([5, 7], tf.int32)


def _views(num_patches=64, size=32, recipe="none"):
    config = mae.MAEConfig(recipe=recipe)
    views = mae.MAE.make_views(AugmentConfig(), size, 0, config)
    return views, {"images": tiny_images(8, size)}


def _model(size=16, **options):
    encoder = build_encoder(
        EncoderConfig("vit_tiny", width=0.125), size, seed=0
    )
    return mae.MAE(encoder, mae.MAEConfig(**options))


def _numpy_loss(images, prediction, mask):
    """MAE's loss by hand: normalised 4x4 patches, masked patches only."""
    n, size = images.shape[0], images.shape[1]
    grid = size // 4
    patches = images.reshape(n, grid, 4, grid, 4, 3).transpose(0, 1, 3, 2, 4, 5)
    patches = patches.reshape(n, grid * grid, 48)
    mean = patches.mean(-1, keepdims=True)
    var = patches.var(-1, ddof=1, keepdims=True)
    target = (patches - mean) / np.sqrt(var + 1e-6)
    per_patch = ((prediction - target) ** 2).mean(-1)
    per_image = [per_patch[i][mask[i] == 1].mean() for i in range(n)]
    return np.mean(per_image)


class MaskTest(TestCase):
    def test_exactly_round_ratio_masked_per_image(self):
        for patches, ratio, masked in ((64, 0.75, 48), (16, 0.75, 12)):
            self.assertEqual(mae.num_masked(patches, ratio), masked)
        views, batch = _views()
        out = views(batch, seed=SEED)
        mask, visible = out["mask"].numpy(), out["visible"].numpy()
        self.assertAllEqual(mask.sum(axis=1), [48] * 8)
        self.assertEqual(visible.shape, (8, 16))
        for row in range(8):
            self.assertAllEqual(np.sort(visible[row]), visible[row])
            self.assertAllEqual(mask[row][visible[row]], np.zeros(16))

    def test_masks_differ_across_rows_and_repeat_for_a_seed(self):
        views, batch = _views()
        first = views(batch, seed=SEED)["mask"].numpy()
        again = views(batch, seed=SEED)["mask"].numpy()
        other = views(batch, seed=SEED + 1)["mask"].numpy()
        self.assertAllEqual(first, again)
        self.assertNotAllEqual(first, other)
        self.assertEqual(len({row.tobytes() for row in first}), 8)

    def test_replica_rows_get_the_global_rows_masks(self):
        # Replica 1 of 2 masks rows 4..7 as one device masks them.
        views, batch = _views()
        whole = views(batch, seed=SEED)
        half = views({"images": batch["images"][4:]}, seed=RowSeed(SEED, 1, 2))
        for key in ("mask", "visible", "images"):
            self.assertAllEqual(half[key], whole[key][4:])


class LossTest(TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # One model for the class: building a 12-block ViT takes seconds.
        cls.model = _model()
        views, _ = _views(size=16)
        cls.inputs = views({"images": tiny_images(8, 16)}, seed=SEED)

    def test_loss_equals_numpy_on_masked_patches(self):
        inputs = self.inputs
        loss = self.model.compute_ssl_loss(inputs, training=False)
        prediction = self.model.reconstruct(inputs["images"], inputs["visible"])
        expected = _numpy_loss(
            inputs["images"].numpy().astype(np.float64),
            prediction.numpy().astype(np.float64),
            inputs["mask"].numpy(),
        )
        self.assertAllClose(loss, expected, rtol=1e-5)
        # The full-image loss is another number: the mask matters.
        everything = dict(inputs, mask=tf.ones_like(inputs["mask"]))
        self.assertNotAllClose(
            self.model.compute_ssl_loss(everything, training=False), loss
        )

    def test_collapse_std_of_the_mean_visible_token(self):
        inputs = self.inputs
        self.model.collapse_tracker.reset_state()
        self.model.compute_ssl_loss(inputs, training=False)
        latent = self.model.encode_visible(inputs["images"], inputs["visible"])
        pooled = latent.numpy().astype(np.float64).mean(axis=1)
        units = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
        expected = units.std(axis=0).mean()
        self.assertAllClose(self.model.collapse_tracker.result(), expected)
        # Every image the same: no spread left, the collapsed value.
        same = dict(inputs, images=tf.repeat(inputs["images"][:1], 8, 0))
        same["visible"] = tf.repeat(inputs["visible"][:1], 8, 0)
        self.model.collapse_tracker.reset_state()
        self.model.compute_ssl_loss(same, training=False)
        self.assertAllClose(
            self.model.collapse_tracker.result(), 0.0, atol=1e-6
        )

    def test_unmasked_reconstruction_is_ignored(self):
        mask = self.inputs["mask"]
        rng = np.random.default_rng(0)
        target = tf.constant(rng.normal(size=(8, 16, 48)), tf.float32)
        prediction = tf.constant(rng.normal(size=(8, 16, 48)), tf.float32)
        noise = tf.constant(rng.normal(size=(8, 16, 48)), tf.float32)
        loss = mae.masked_patch_mse(prediction, target, mask)
        shown = (1.0 - mask)[..., None]
        self.assertAllClose(
            mae.masked_patch_mse(prediction + shown * noise, target, mask), loss
        )
        self.assertNotAllClose(
            mae.masked_patch_mse(prediction + noise, target, mask), loss
        )
        # In the model: no gradient reaches the visible patches' outputs.
        with tf.GradientTape() as tape:
            tape.watch(prediction)
            value = tf.reduce_mean(
                mae.masked_patch_mse(prediction, target, mask)
            )
        gradient = tape.gradient(value, prediction).numpy()
        self.assertAllEqual(gradient[mask.numpy() == 0], np.zeros((32, 48)))

    def test_encoder_never_sees_masked_pixels(self):
        inputs = self.inputs
        images = inputs["images"].numpy().copy()
        masked = inputs["mask"].numpy() == 1
        grid = images.reshape(8, 4, 4, 4, 4, 3).transpose(0, 1, 3, 2, 4, 5)
        grid = grid.reshape(8, 16, 4, 4, 3).copy()
        grid[masked] = 1.0 - grid[masked]
        changed = grid.reshape(8, 4, 4, 4, 4, 3).transpose(0, 1, 3, 2, 4, 5)
        changed = changed.reshape(8, 16, 16, 3)
        self.assertNotAllClose(changed, images)
        before = self.model.reconstruct(inputs["images"], inputs["visible"])
        after = self.model.reconstruct(tf.constant(changed), inputs["visible"])
        self.assertAllClose(after, before, atol=1e-6)


class MAEConfigTest(TestCase):
    def test_bad_options_fail_before_work(self):
        directory = self.get_temp_dir()
        cases = (
            ({"encoder.name": "resnet18"}, "needs a ViT encoder"),
            ({"mask_ratio": 1.0}, "`mask_ratio` must mask"),
            ({"decoder_dim": 30}, "`decoder_dim` must be a multiple"),
            ({"recipe": "simclr"}, "recipe"),
            ({"data.image_size": 18}, "divisible by the patch size"),
        )
        for overrides, message in cases:
            with self.subTest(overrides=overrides):
                with self.assertRaisesRegex(ConfigError, message):
                    smoke_config(directory, "mae", **overrides).validate()

    @pytest.mark.large
    def test_export_is_the_encoder_without_the_decoder(self):
        # Large: a smoke fit and export of a 12-block ViT (~2 min here);
        # `test_all_methods` runs the same fit and export by default.
        result = self.run_method_smoke("mae")
        encoder = result.model.encoder
        reloaded = export.load_keras_encoder(result.export_dir)
        self.assertEqual(len(reloaded.weights), len(encoder.weights))
        self.assertEqual(
            [w.path for w in reloaded.weights if "decoder" in w.path], []
        )
        self.assertGreater(len(result.model.decoder.weights), 0)
