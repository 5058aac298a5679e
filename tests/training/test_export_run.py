"""`ssl-tf export`: the latest checkpoint's weights, or a seeded random init."""

import json
import os

import numpy as np

from ssl_tf import export, models
from ssl_tf.config import ConfigError
from ssl_tf.testing import TestCase, smoke_config, tiny_images
from ssl_tf.training import export_run, run


def exported_weights(path):
    return [w.numpy() for w in export.load_keras_encoder(path).weights]


class ExportRunTest(TestCase):
    def test_random_init_equals_a_seeded_build(self):
        config = smoke_config(self.get_temp_dir(), **{"train.seed": "3"})
        path = export_run.export_from_run(config, random_init=True)
        self.assertEqual(
            path, os.path.join(config.export_dir, f"{config.name}-random")
        )
        seeded = models.build_encoder(config.encoder, 16, seed=3)
        for got, want in zip(
            exported_weights(path), seeded.get_weights(), strict=True
        ):
            self.assertAllEqual(got, want)
        metadata = export.read_metadata(path)
        self.assertEqual(metadata["method"], "random")
        self.assertEqual(metadata["config"], json.loads(config.to_json()))

    def test_exports_the_latest_checkpoint_exactly(self):
        config = smoke_config(
            self.get_temp_dir(), **{"train.checkpoint_every_steps": "1"}
        )
        result = run.pretrain(
            config, arrays=(tiny_images(16), None), do_export=False, verbose=0
        )
        path = export_run.export_from_run(config)
        self.assertEqual(path, os.path.join(config.export_dir, config.name))
        trained = result.model.encoder.get_weights()
        exported = exported_weights(path)
        for got, want in zip(exported, trained, strict=True):
            self.assertAllEqual(got, want)
        # Guards the comparison: training moved the weights off their init.
        initial = models.build_encoder(config.encoder, 16, seed=0)
        self.assertFalse(
            all(
                np.array_equal(a, b)
                for a, b in zip(exported, initial.get_weights(), strict=True)
            )
        )
        self.assertEqual(export.read_metadata(path)["method"], "simclr")

    def test_without_a_checkpoint(self):
        config = smoke_config(self.get_temp_dir())
        directory = os.path.join(config.output_dir, config.name, "checkpoints")
        with self.assertRaisesRegex(
            ConfigError,
            rf"^No checkpoint in {directory}: run `ssl-tf pretrain` first\.$",
        ):
            export_run.export_from_run(config)
