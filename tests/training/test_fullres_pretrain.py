"""Pretraining on a folder of larger, non-square images (full-resolution
crops, `data.crop_from="original"`): every method, resume, and the configs
that cannot take full-resolution batches."""

import os

import numpy as np
import pytest
from absl.testing import parameterized

from ssl_tf import data, methods
from ssl_tf.config import ConfigError
from ssl_tf.testing import (
    AfterStep,
    TestCase,
    smoke_config,
    write_image_folder,
)
from ssl_tf.training import plan as plan_lib
from ssl_tf.training import run

# Mixed sizes around and above the smoke preset's 16 px (frame: 64 px).
SHAPES = [(40, 24), (64, 48), (30, 70), (100, 20), (50, 50), (17, 33)]
RESUMABLE = {
    "train.epochs": "2",
    "train.steps_per_epoch": "3",
    "train.checkpoint_every_steps": "1",
}


class Crash(Exception):
    pass


def large_image_folder(directory):
    """A labelled folder of 24 images of `SHAPES`; its path."""
    rng = np.random.default_rng(0)
    images = [
        rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
        for shape in SHAPES * 4
    ]
    root = os.path.join(directory, "large")
    write_image_folder(root, images, np.arange(len(images)) % 4)
    return root


class FullResolutionPretrainTest(TestCase):
    def setUp(self):
        super().setUp()
        self.root = large_image_folder(self.get_temp_dir())

    def config(self, method="simclr", **overrides):
        folder = {"data.source": "folder", "data.name": self.root}
        return smoke_config(self.get_temp_dir(), method, **folder, **overrides)

    @parameterized.named_parameters(
        (name, name) for name in methods.list_methods()
    )
    def test_every_method_pretrains_two_steps(self, method):
        config = self.config(method)
        source = data.open_source(config.data)
        self.assertTrue(data.pipeline.crops_original(source.info, config.data))
        result = run.pretrain(config, verbose=0)
        self.assertLen(result.history["loss"], config.train.epochs)
        self.assertTrue(np.all(np.isfinite(result.history["loss"])))

    @pytest.mark.large  # three runs, ~50 s; the SIGKILL test of
    # tests/training/test_resume.py resumes a folder source by default.
    def test_resume_after_a_crash_matches_the_uninterrupted_run(self):
        full = run.pretrain(self.config(name="full", **RESUMABLE), verbose=0)
        config = self.config(name="crashed", **RESUMABLE)

        def crash(model):
            raise Crash("after global step 4 (epoch 1, step 1; saved)")

        with self.assertRaises(Crash):
            run.pretrain(
                config, extra_callbacks=[AfterStep(4, crash)], verbose=0
            )
        resumed = run.pretrain(config, verbose=0)
        self.assertEqual(resumed.resumed_from, (1, 1))
        for a, b in zip(
            full.model.get_weights(), resumed.model.get_weights(), strict=True
        ):
            self.assertAllClose(a, b, rtol=1e-5, atol=1e-6)

    @parameterized.named_parameters(
        ("device", {"augment.placement": "device"}, "augment.placement=host"),
        ("keras_cv", {"augment.backend": "keras_cv"}, "augment.backend=keras"),
    )
    def test_square_only_augmentation_is_refused(self, overrides, fix):
        with self.assertRaisesRegex(
            ConfigError,
            r"crops the images of folder:.*at their own resolution\. Set "
            rf"`data.crop_from=square` .* or `{fix}`",
        ):
            plan_lib.prepare(self.config(**overrides))
        square = self.config(**overrides, **{"data.crop_from": "square"})
        plan = plan_lib.prepare(square)
        self.assertFalse(
            data.pipeline.crops_original(plan.source.info, square.data)
        )

    def test_unknown_crop_from_is_refused(self):
        with self.assertRaisesRegex(
            ConfigError,
            r"`data.crop_from` must be one of \['original', 'square'\]\. "
            r"Received: data.crop_from='squar'\. Did you mean 'square'\?",
        ):
            self.config(**{"data.crop_from": "squar"}).validate()
