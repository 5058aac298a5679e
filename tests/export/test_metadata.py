"""The one export call of an experiment and the metadata it records."""

import json
import os

from ssl_tf import export
from ssl_tf.testing import TestCase, smoke_config, tiny_encoder


class ExperimentExportTest(TestCase):
    def test_metadata_is_the_config_and_the_method(self):
        config = smoke_config(self.get_temp_dir(), "rotation")
        expected_config = json.loads(config.to_json())
        self.assertEqual(
            export.experiment_metadata(config),
            {"config": expected_config, "method": "rotation"},
        )
        self.assertEqual(
            export.experiment_metadata(config, method="random"),
            {"config": expected_config, "method": "random"},
        )

    def test_export_experiment_writes_them(self):
        config = smoke_config(self.get_temp_dir())
        target = os.path.join(self.get_temp_dir(), "model")
        self.assertFalse(export.is_export(target))
        encoder = tiny_encoder(strides=2, input_size=16)
        path = export.export_experiment(encoder, config, target)
        self.assertEqual(path, target)
        self.assertTrue(export.is_export(target))
        metadata = export.read_metadata(target)
        self.assertEqual(metadata["image_size"], config.data.image_size)
        self.assertEqual(metadata["embedding_dim"], 4)
        self.assertEqual(metadata["method"], "simclr")
        self.assertEqual(metadata["config"], json.loads(config.to_json()))
        self.assertEqual(
            metadata["fingerprint"], export.encoder_fingerprint(encoder, 16)
        )

    def test_incomplete_directory_is_not_an_export(self):
        directory = os.path.join(self.get_temp_dir(), "partial")
        os.makedirs(os.path.join(directory, "saved_model"))
        with open(
            os.path.join(directory, "saved_model", "saved_model.pb"), "w"
        ):
            pass
        # A SavedModel without its `export.json` was not installed by
        # `export_encoder`, which writes both before renaming.
        self.assertFalse(export.is_export(directory))
