"""`train.mixed_precision`: what `auto` picks, and what stays float32."""

import os

import keras
import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from ssl_tf import augment, export, models
from ssl_tf.config import AugmentConfig, EncoderConfig
from ssl_tf.testing import TestCase, tiny_images
from ssl_tf.training import precision


class ResolveTest(TestCase):
    @parameterized.named_parameters(
        ("avx512_bf16", {"avx512f", "avx512_bf16"}, "bfloat16 is faster"),
        ("amx", {"amx_bf16", "amx_tile"}, "bfloat16 is faster"),
        ("avx2_only", {"avx2", "fma"}, "without bfloat16 units"),
        ("no_flags", set(), "without bfloat16 units"),
    )
    def test_auto_on_cpus_is_float32(self, flags, reason):
        # bfloat16 lost linear-probe points on the main job (README), so a
        # CPU keeps float32 and the log names the faster option.
        if tf.config.list_physical_devices("GPU"):
            self.skipTest("auto looks at the GPU first")
        self.assertEqual(precision.resolve("auto", flags=flags)[0], "none")
        self.assertIn(reason, precision.resolve("auto", flags=flags)[1])

    @parameterized.parameters("none", "bfloat16", "float16")
    def test_explicit_choice_passes(self, name):
        self.assertEqual(precision.resolve(name, flags=set())[0], name)

    def test_cpu_flags_parses_proc_cpuinfo(self):
        path = os.path.join(self.get_temp_dir(), "cpuinfo")
        with open(path, "w") as handle:
            handle.write("processor\t: 0\nflags\t\t: fpu avx512_bf16 sse\n")
        self.assertEqual(
            precision.cpu_flags(path), {"fpu", "avx512_bf16", "sse"}
        )
        self.assertEqual(precision.cpu_flags(path + ".missing"), set())

    def test_set_policy(self):
        self.assertEqual(precision.set_policy("bfloat16"), "bfloat16")
        self.assertEqual(
            keras.mixed_precision.global_policy().name, "mixed_bfloat16"
        )


class Float32UnderMixedPolicyTest(TestCase):
    def test_augmentation_stays_float32(self):
        images = tiny_images(4, 16)
        seed = augment.batch_seed(0, 3)
        recipe = augment.simclr_recipe(AugmentConfig(blur=True), 8)
        expected = recipe(images, seed=seed)
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        mixed = augment.simclr_recipe(AugmentConfig(blur=True), 8)
        views = augment.TwoViews(mixed)({"images": images}, seed=seed)
        self.assertEqual(views["view_1"].dtype, tf.float32)
        got = mixed(images, seed=seed)
        self.assertEqual(got.dtype, tf.float32)
        self.assertAllClose(got, expected, atol=1e-6)

    def test_bfloat16_encoder_exports_in_float32(self):
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        config = EncoderConfig("resnet18", width=0.125)
        encoder = models.build_encoder(config, 16, seed=0)
        self.assertEqual(encoder.layers[1].compute_dtype, "bfloat16")
        copy = export.float32_encoder(encoder)
        self.assertEqual(
            {layer.compute_dtype for layer in copy.layers[1:]}, {"float32"}
        )
        self.assertIs(export.float32_encoder(copy), copy)
        for a, b in zip(copy.weights, encoder.weights, strict=True):
            self.assertAllEqual(a, b)
        images = tiny_images(4, 16).astype("float32") / 255.0
        full = copy(images).numpy()
        half = encoder(images).numpy().astype(np.float32)
        # The same weights: bfloat16 compute is ~1% off float32.
        self.assertAllClose(full, half, rtol=0.05, atol=0.05)
        directory = export.export_encoder(
            encoder, os.path.join(self.get_temp_dir(), "out"), 16
        )
        served = export.load_encoder(directory).embed(tiny_images(4, 16))
        self.assertEqual(served.dtype, np.float32)
        reference = export.export_encoder(
            copy, os.path.join(self.get_temp_dir(), "ref"), 16
        )
        self.assertEqual(
            export.read_metadata(directory)["fingerprint"],
            export.read_metadata(reference)["fingerprint"],
        )
