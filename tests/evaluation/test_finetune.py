"""Tests for `ssl_tf.evaluation.finetune`."""

import keras
import numpy as np
import tensorflow as tf

from ssl_tf.config import EncoderConfig
from ssl_tf.evaluation import finetune as finetune_function
from ssl_tf.evaluation.finetune import (
    crop_flip_augmentation,
    recalibrate_batch_norm,
)
from ssl_tf.testing import (
    TestCase,
    colour_classes,
    tiny_encoder,
    tiny_images,
)


def _data(n, seed):
    return tiny_images(n, size=8, seed=seed), np.arange(n) % 3


class FineTuneTest(TestCase):
    def test_separable_colour_classes_reach_100_percent(self):
        # The label is the dominant colour channel: one conv and a linear
        # head separate it, so fine-tuning must classify every image.
        result = finetune_function(
            tiny_encoder(batch_norm=False),
            colour_classes(48, 0, size=8),
            colour_classes(24, 1, size=8),
            num_classes=3,
            epochs=5,
            batch_size=8,
        )
        self.assertEqual(result["top1"], 1.0)
        self.assertEqual(result["train_top1"], 1.0)
        self.assertNotIn("top5", result)  # 3 classes: always 100%
        self.assertTrue(np.isfinite(result["train_loss"]))
        self.assertEqual(result["train_examples"], 48)
        self.assertEqual(result["test_examples"], 24)

    def test_zero_backbone_lr_freezes_backbone_only(self):
        encoder = tiny_encoder(batch_norm=False)
        encoder(np.zeros((1, 8, 8, 3), "float32"))
        before = [np.array(w) for w in encoder.get_weights()]
        # With a zero backbone LR the encoder stays bit-identical; the same
        # run with a positive one does move it.
        for backbone_lr, unchanged in ((0.0, True), (0.05, False)):
            finetune_function(
                encoder,
                _data(24, 0),
                _data(6, 1),
                num_classes=3,
                epochs=1,
                batch_size=8,
                backbone_lr=backbone_lr,
                head_lr=0.5,
            )
            after = encoder.get_weights()
            same = all(map(np.array_equal, before, after))
            self.assertEqual(same, unchanged)

    def test_label_fraction_and_dataset_input(self):
        images, labels = _data(30, 0)
        dataset = tf.data.Dataset.from_tensor_slices(
            {"images": images, "labels": labels}
        )
        result = finetune_function(
            tiny_encoder(batch_norm=False),
            dataset,
            _data(6, 1),
            num_classes=3,
            epochs=1,
            batch_size=8,
            label_fraction=0.2,
        )
        self.assertEqual(result["train_examples"], 6)

    def test_random_init_encoder_separates_colours(self):
        result = finetune_function(
            None,
            colour_classes(48, 0, size=8),
            colour_classes(24, 1, size=8),
            num_classes=3,
            epochs=5,
            batch_size=8,
            encoder_config=EncoderConfig("cbr_small", width=0.125),
        )
        self.assertEqual(result["top1"], 1.0)

    def test_augmentation_keeps_shape(self):
        layer = crop_flip_augmentation((8, 8), seed=0)
        images = np.random.default_rng(0).uniform(size=(4, 8, 8, 3))
        self.assertEqual(
            tuple(layer(images, training=True).shape), (4, 8, 8, 3)
        )


class RecalibrateBatchNormTest(TestCase):
    def test_moving_statistics_become_the_mean_of_batch_statistics(self):
        batch_norm = keras.layers.BatchNormalization(momentum=0.99)
        model = keras.Sequential([keras.Input((3,)), batch_norm])
        rng = np.random.default_rng(0)
        images = rng.normal(2.0, 3.0, size=(10, 3)).astype("float32")
        gamma = batch_norm.gamma.numpy().copy()
        recalibrate_batch_norm(model, images, batch_size=4)
        # Batches of 4, 4 and 2 rows; each counts once (the plain mean).
        batches = [images[0:4], images[4:8], images[8:10]]
        self.assertAllClose(
            batch_norm.moving_mean.numpy(),
            np.mean([b.mean(axis=0) for b in batches], axis=0),
            atol=1e-5,
        )
        self.assertAllClose(
            batch_norm.moving_variance.numpy(),
            np.mean([b.var(axis=0) for b in batches], axis=0),
            atol=1e-4,
        )
        self.assertEqual(batch_norm.momentum, 0.99)
        self.assertAllEqual(batch_norm.gamma.numpy(), gamma)

    def test_max_batches_limits_the_average(self):
        batch_norm = keras.layers.BatchNormalization()
        model = keras.Sequential([keras.Input((2,)), batch_norm])
        images = np.concatenate(
            [np.zeros((4, 2)), np.full((4, 2), 10.0)]
        ).astype("float32")
        recalibrate_batch_norm(model, images, batch_size=4, max_batches=1)
        self.assertAllClose(batch_norm.moving_mean.numpy(), [0.0, 0.0])
