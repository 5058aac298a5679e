"""Tests for `ssl_tf.models.vit` and `ssl_tf.models.transformer`."""

import os

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from ssl_tf import export
from ssl_tf.config import EncoderConfig
from ssl_tf.models import backbones, build_encoder, embedding_dim, vit
from ssl_tf.testing import TestCase, tiny_images

# vit_tiny at width 1/8: 3 heads of 8 dims.
DIM = 24


def _encoder(name="vit_tiny", size=32, seed=0):
    return build_encoder(EncoderConfig(name, width=0.125), size, seed=seed)


def _images(n=2, size=32):
    return tf.constant(tiny_images(n, size), tf.float32) / 255.0


def _all_tokens(encoder, images):
    # The full path's tokens: the transformer's output on the whole image.
    inner = tf.keras.Model(
        encoder.input, encoder.get_layer("transformer").output
    )
    return inner(images)


def _numpy_patchify(images, p):
    n, h, w, c = images.shape
    patches = []
    for row in range(h // p):
        for col in range(w // p):
            block = images[:, row * p : (row + 1) * p, col * p : (col + 1) * p]
            patches.append(block.reshape(n, p * p * c))
    return np.stack(patches, axis=1)


class ViTTest(TestCase):
    @parameterized.named_parameters(
        ("tiny", "vit_tiny", 1.0, 192),
        ("small", "vit_small", 1.0, 384),
        ("base", "vit_base", 1.0, 768),
        ("tiny_half", "vit_tiny", 0.5, 96),
        ("small_eighth_cls", "vit_small_cls", 0.125, 48),
    )
    def test_dims_follow_the_paper_sizes(self, name, width, dim):
        self.assertEqual(vit.vit_dims(name, width)[0], dim)
        self.assertEqual(embedding_dim(EncoderConfig(name, width=width)), dim)

    def test_output_shape_and_token_count(self):
        encoder = _encoder()
        images = _images()
        self.assertEqual(tuple(encoder(images).shape), (2, DIM))
        tokens = encoder.get_layer("patch_embed")(images)
        # (32 / 4)^2 patches; the transformer adds the CLS token.
        self.assertEqual(tuple(tokens.shape), (2, 64, DIM))
        self.assertEqual(
            tuple(_all_tokens(encoder, images).shape), (2, 65, DIM)
        )
        self.assertEqual(backbones.min_image_size(EncoderConfig("vit_base")), 4)

    def test_large_images_get_16_pixel_patches(self):
        # ViT's ImageNet patch above 64 px: 128 px is an 8 x 8 grid too.
        self.assertEqual([vit.patch_size_for(s) for s in (64, 224)], [4, 16])
        encoder = _encoder(size=128)
        tokens = encoder.get_layer("patch_embed")(_images(1, 128))
        self.assertEqual(tuple(tokens.shape), (1, 64, DIM))

    def test_patchify_matches_numpy(self):
        images = np.random.default_rng(0).uniform(size=(2, 8, 12, 3))
        expected = _numpy_patchify(images, 4)
        self.assertAllClose(vit.patchify(tf.constant(images), 4), expected)

    def test_mean_pool_and_cls_read_the_same_tokens(self):
        mean, cls = _encoder("vit_tiny"), _encoder("vit_tiny_cls")
        for a, b in zip(mean.weights, cls.weights, strict=True):
            self.assertAllEqual(a, b)
        images = _images(3)
        tokens = _all_tokens(mean, images).numpy()
        self.assertAllClose(mean(images), tokens[:, 1:].mean(axis=1))
        self.assertAllClose(cls(images), tokens[:, 0])
        self.assertNotAllClose(mean(images), cls(images))

    def test_subset_path_with_every_token_equals_the_full_path(self):
        encoder = _encoder()
        patch_embed, transformer = vit.vit_parts(encoder)
        images = _images(3)
        full = _all_tokens(encoder, images).numpy()
        tokens = patch_embed(images)
        every = tf.tile(tf.range(64)[None], [3, 1])
        subset = transformer(tf.gather(tokens, every, batch_dims=1))
        self.assertAllClose(subset, full, atol=1e-5)
        # Attention is permutation-equivariant: a reversed subset gives the
        # same tokens reversed (the positions travel with the tokens).
        reverse = transformer(tf.gather(tokens, every[:, ::-1], batch_dims=1))
        self.assertAllClose(reverse[:, 1:], full[:, :0:-1], atol=1e-5)
        self.assertAllClose(reverse[:, 0], full[:, 0], atol=1e-5)

    def test_sincos_embedding_by_hand(self):
        # dim 4: one frequency (1), channels (sin col, cos col, sin row,
        # cos row); position 1 of a 2x2 grid is row 0, column 1.
        table = vit.sincos_position_embedding(2, 4, cls_token=True)
        self.assertAllClose(table[0], [0, 0, 0, 0])
        self.assertAllClose(table[2], [np.sin(1), np.cos(1), 0, 1])
        self.assertAllClose(table[3], [0, 1, np.sin(1), np.cos(1)])

    def test_same_seed_same_weights(self):
        first, second, other = _encoder(seed=3), _encoder(seed=3), _encoder()
        for a, b in zip(first.weights, second.weights, strict=True):
            self.assertAllEqual(a, b)
        qkv = "transformer/block0/attention/qkv/kernel"
        kernels = {
            id(model): next(w for w in model.weights if w.path == qkv)
            for model in (first, other)
        }
        self.assertNotAllClose(*kernels.values())

    def test_bad_inputs_raise(self):
        with self.assertRaisesRegex(ValueError, "multiple of 4"):
            _encoder(size=30)
        with self.assertRaisesRegex(ValueError, "pooling"):
            vit.TokenPool("max")
        resnet = build_encoder(EncoderConfig("resnet18", width=0.125), 16)
        with self.assertRaisesRegex(ValueError, "not a ViT"):
            vit.vit_parts(resnet)
        with self.assertRaisesRegex(ValueError, "Available: .*vit_tiny"):
            build_encoder(EncoderConfig("vit_tiny_mean"), 32)

    def test_export_serves_and_reloads(self):
        encoder = _encoder(size=16)
        path = export.export_encoder(
            encoder, os.path.join(self.get_temp_dir(), "vit"), image_size=16
        )
        images = tiny_images(4, 16)
        expected = encoder(tf.cast(images, tf.float32) / 255.0)
        self.assertAllClose(export.load_encoder(path).embed(images), expected)
        reloaded = export.load_keras_encoder(path)
        self.assertEqual(len(reloaded.weights), len(encoder.weights))
        self.assertAllClose(
            reloaded(tf.cast(images, tf.float32) / 255.0), expected, atol=1e-6
        )
