"""Tests for `ssl_tf.models.backbones`."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf
from absl.testing import parameterized

from ssl_tf import config as config_lib
from ssl_tf.config import EncoderConfig
from ssl_tf.models import backbones
from ssl_tf.testing import TestCase, mirrored_strategy

# Embedding size at width 0.125 (ResNet base int(64 * 0.125) = 8 channels).
_TINY_DIMS = {
    "resnet18": 64,
    "resnet34": 64,
    "resnet50": 256,
    "cbr_tiny": 64,
    "cbr_small": 32,
    "cbr_large_t": 64,
    "cbr_large_w": 64,
}


def _images(height, width, n=2):
    rng = np.random.default_rng(0)
    return rng.uniform(size=(n, height, width, 3)).astype("float32")


def _count(weights):
    return sum(int(np.prod(w.shape)) for w in weights)


class BuildEncoderTest(TestCase):
    def test_tiny_dims_cover_every_name(self):
        self.assertEqual(set(_TINY_DIMS), set(backbones.ENCODER_NAMES))

    @parameterized.named_parameters(
        (name, name) for name in backbones.ENCODER_NAMES
    )
    def test_shapes_and_input_sizes(self, name):
        config = EncoderConfig(name=name, width=0.125)
        encoder = backbones.build_encoder(config, 16, seed=0)
        self.assertEqual(tuple(encoder.input.shape), (None, None, None, 3))
        dim = _TINY_DIMS[name]
        self.assertEqual(backbones.embedding_dim(config), dim)
        # Any spatial size, so the exported encoder accepts any size too.
        for height, width in ((16, 16), (24, 20)):
            outputs = encoder(_images(height, width), training=False)
            self.assertEqual(tuple(outputs.shape), (2, dim))
            self.assertAllEqual(np.isfinite(outputs), np.ones((2, dim)))

    def test_imagenet_stem(self):
        config = EncoderConfig(name="resnet18", stem="imagenet", width=0.125)
        encoder = backbones.build_encoder(config, 32, seed=0)
        self.assertIsNotNone(encoder.get_layer("stem_pool"))
        self.assertEqual(encoder.get_layer("stem_conv").strides, (2, 2))
        self.assertEqual(tuple(encoder(_images(24, 20)).shape), (2, 64))

    @parameterized.named_parameters(
        ("resnet_cifar", "resnet50", "cifar", 8),
        ("resnet_imagenet", "resnet18", "imagenet", 32),
        ("cbr", "cbr_large_t", "cifar", 16),
    )
    def test_min_image_size_gives_1x1_features(self, name, stem, size):
        config = EncoderConfig(name=name, stem=stem, width=0.125)
        self.assertEqual(backbones.min_image_size(config), size)
        encoder = backbones.build_encoder(config, size, seed=0)
        features = keras.Model(
            encoder.input, encoder.get_layer("avg_pool").input
        )
        self.assertEqual(features(_images(size, size)).shape[1:3], (1, 1))

    def test_min_image_size_applications(self):
        for name, size in (("MobileNetV2", 32), ("InceptionV3", 75)):
            self.assertEqual(
                backbones.min_image_size(EncoderConfig(name=name)), size
            )

    def test_resnet18_width_quarter_param_count(self):
        # Same architecture as lightly's ResNetGenerator("resnet-18", 0.25)
        # without its linear layer: 700,176 trainable parameters (~0.70 M).
        # Channels 16-32-64-128; BN has 2 trainable parameters per channel.
        stem = 3 * 3 * 3 * 16 + 2 * 16  # 464
        stage1 = 2 * (2 * 3 * 3 * 16 * 16 + 2 * 2 * 16)  # 9,344

        def stage(c_in, c_out):
            first = 3 * 3 * c_in * c_out + 3 * 3 * c_out * c_out + 4 * c_out
            projection = c_in * c_out + 2 * c_out
            second = 2 * 3 * 3 * c_out * c_out + 4 * c_out
            return first + projection + second

        # 33,088 + 131,712 + 525,568
        expected = (
            stem + stage1 + stage(16, 32) + stage(32, 64) + stage(64, 128)
        )
        self.assertEqual(expected, 700_176)
        config = EncoderConfig(name="resnet18", width=0.25)
        encoder = backbones.build_encoder(config, 32, seed=0)
        self.assertEqual(_count(encoder.trainable_weights), expected)
        # Moving mean and variance: 2 per BN channel, i.e. as many as the
        # BN gammas and betas together.
        bn_channels = 16 + 2 * 2 * 16 + sum(4 * c + c for c in (32, 64, 128))
        self.assertEqual(_count(encoder.non_trainable_weights), 2 * bn_channels)
        self.assertEqual(encoder.count_params(), 702_576)
        self.assertEqual(encoder.output.shape[-1], 128)

    def test_same_seed_same_weights(self):
        config = EncoderConfig(name="resnet18", width=0.125)
        first = backbones.build_encoder(config, 16, seed=3)
        second = backbones.build_encoder(config, 16, seed=3)
        other = backbones.build_encoder(config, 16, seed=4)
        for a, b in zip(first.get_weights(), second.get_weights(), strict=True):
            self.assertAllEqual(a, b)
        kernel = first.get_layer("stage1_block1_1_conv").kernel
        self.assertNotAllClose(
            kernel, other.get_layer("stage1_block1_1_conv").kernel
        )
        # Layers of one model get different seeds, so same-shape kernels differ.
        self.assertNotAllClose(
            kernel, first.get_layer("stage1_block1_2_conv").kernel
        )

    def test_batch_norms_are_synchronized(self):
        config = EncoderConfig(name="resnet50", width=0.125)
        encoder = backbones.build_encoder(config, 16, seed=0)
        batch_norms = [
            layer
            for layer in encoder.layers
            if isinstance(layer, keras.layers.BatchNormalization)
        ]
        self.assertLen(batch_norms, 53)
        for layer in batch_norms:
            self.assertTrue(layer.synchronized)
            self.assertAllClose(layer.momentum, 0.9)
            self.assertAllClose(layer.epsilon, 1e-5)
        convs = [
            layer
            for layer in encoder.layers
            if isinstance(layer, keras.layers.Conv2D)
        ]
        self.assertFalse(any(layer.use_bias for layer in convs))

    @parameterized.named_parameters(
        # Basic blocks: the BN before the add is `_2_bn`; bottleneck: `_3_bn`.
        ("resnet18", "resnet18", 8, "_2_bn"),
        ("resnet50", "resnet50", 16, "_3_bn"),
    )
    def test_zero_init_residual_zeroes_last_bn_of_each_block(
        self, name, num_blocks, last_bn
    ):
        config = EncoderConfig(name=name, width=0.125, zero_init_residual=True)
        encoder = backbones.build_encoder(config, 16, seed=0)
        blocks = [
            layer.name[: -len("_add")]
            for layer in encoder.layers
            if isinstance(layer, keras.layers.Add)
        ]
        self.assertLen(blocks, num_blocks)
        expected_zero = {block + last_bn for block in blocks}
        zero = set()
        for layer in encoder.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                gamma = keras.ops.convert_to_numpy(layer.gamma)
                if layer.name in expected_zero:
                    self.assertAllEqual(gamma, np.zeros_like(gamma))
                    zero.add(layer.name)
                else:
                    # Stem, inner and shortcut-projection BNs keep gamma = 1.
                    self.assertAllEqual(gamma, np.ones_like(gamma))
        self.assertEqual(zero, expected_zero)

    @parameterized.named_parameters(
        (name, name) for name in ("resnet18", "resnet50")
    )
    def test_all_gammas_one_by_default(self, name):
        encoder = backbones.build_encoder(
            EncoderConfig(name=name, width=0.125), 16, seed=0
        )
        for layer in encoder.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                gamma = keras.ops.convert_to_numpy(layer.gamma)
                self.assertAllEqual(gamma, np.ones_like(gamma))

    @parameterized.named_parameters(
        # stage1_block2 keeps the shape, so its shortcut is the identity.
        ("resnet18", "resnet18"),
        ("resnet50", "resnet50"),
    )
    def test_zero_init_block_starts_as_its_shortcut(self, name):
        def block(zero_init_residual):
            config = EncoderConfig(
                name=name, width=0.125, zero_init_residual=zero_init_residual
            )
            encoder = backbones.build_encoder(config, 16, seed=0)
            return keras.Model(
                encoder.get_layer("stage1_block1_out").output,
                encoder.get_layer("stage1_block2_out").output,
            )

        zero_init = block(True)
        channels = zero_init.input.shape[-1]
        rng = np.random.default_rng(0)
        # Signed inputs: relu(x) differs from x, so the check sees the ReLU.
        x = rng.normal(size=(2, 4, 4, channels)).astype("float32")
        for training in (False, True):
            self.assertAllClose(
                zero_init(x, training=training), np.maximum(x, 0.0)
            )
        # Guards the check: without the option the residual branch adds
        # something, so the same block is not relu(x).
        self.assertNotAllClose(
            block(False)(x, training=False), np.maximum(x, 0)
        )

    def test_zero_init_residual_from_override_and_json(self):
        # The CLI's `encoder.zero_init_residual=true` and a component's JSON
        # both reach `build_encoder`.
        config = config_lib.apply_overrides(
            config_lib.ExperimentConfig(),
            {"encoder.zero_init_residual": "true", "encoder.width": "0.125"},
        )
        config = config_lib.ExperimentConfig.from_json(config.to_json())
        self.assertIs(config.encoder.zero_init_residual, True)
        encoder = backbones.build_encoder(config.encoder, 16, seed=0)
        gamma = encoder.get_layer("stage4_block2_2_bn").gamma
        self.assertAllEqual(gamma, np.zeros(gamma.shape))

    def test_zero_init_residual_is_in_the_export_fingerprint(self):
        # The option lives in the BN layer config (gamma_initializer), which
        # the fingerprint hashes: equal weights still give two fingerprints.
        from ssl_tf.export import encoder_fingerprint

        config = EncoderConfig(name="resnet18", width=0.125)
        plain = backbones.build_encoder(config, 16, seed=0)
        zero_init = backbones.build_encoder(
            dataclasses.replace(config, zero_init_residual=True), 16, seed=0
        )
        zero_init.set_weights(plain.get_weights())
        self.assertNotEqual(
            encoder_fingerprint(plain, 16), encoder_fingerprint(zero_init, 16)
        )

    def test_application(self):
        config = EncoderConfig(name="MobileNetV2")
        encoder = backbones.build_encoder(config, 32)
        self.assertEqual(tuple(encoder.input.shape), (None, 32, 32, 3))
        self.assertEqual(tuple(encoder(_images(32, 32)).shape), (2, 1280))
        # MobileNetV2 expects [-1, 1].
        rescaling = encoder.get_layer("to_minus1_1")
        self.assertAllClose(rescaling(np.array([0.0, 1.0])), [-1.0, 1.0])

    def test_application_image_size_too_small(self):
        with self.assertRaisesRegex(ValueError, "image_size"):
            backbones.build_encoder(EncoderConfig(name="MobileNetV2"), 16)

    def test_unknown_name(self):
        with self.assertRaisesRegex(
            ValueError, r"Unknown encoder 'resnet19'.*resnet18.*cbr_tiny"
        ) as context:
            backbones.build_encoder(EncoderConfig(name="resnet19"), 16)
        self.assertIn("keras.applications", str(context.exception))
        with self.assertRaisesRegex(ValueError, "Unknown encoder"):
            backbones.min_image_size(EncoderConfig(name="nope"))

    @pytest.mark.distributed
    def test_two_replicas_match_one_device(self):
        # Synchronized BN: a training-mode forward pass on 2 replicas uses
        # the global batch statistics, so it equals the 1-device pass.
        config = EncoderConfig(name="resnet18", width=0.125)
        images = _images(16, 16, n=8)
        single = backbones.build_encoder(config, 16, seed=0)
        expected = single(images, training=True)
        strategy = mirrored_strategy()
        with strategy.scope():
            mirrored = backbones.build_encoder(config, 16, seed=0)
        dataset = tf.data.Dataset.from_tensors(images)
        distributed = next(
            iter(strategy.experimental_distribute_dataset(dataset))
        )

        @tf.function
        def forward(inputs):
            return strategy.run(
                lambda x: mirrored(x, training=True), args=(inputs,)
            )

        outputs = strategy.experimental_local_results(forward(distributed))
        self.assertAllClose(tf.concat(outputs, 0), expected, atol=1e-4)
        name = "stage4_block2_2_bn"
        self.assertAllClose(
            mirrored.get_layer(name).moving_variance,
            single.get_layer(name).moving_variance,
            atol=1e-5,
        )
