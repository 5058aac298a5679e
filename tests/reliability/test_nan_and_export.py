"""A diverged run keeps its last good checkpoint; exports are all or nothing."""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from unittest import mock

import keras
import numpy as np
import tensorflow as tf
from absl.testing import parameterized
from PIL import Image

from ssl_tf import export
from ssl_tf.export import saved_model, signatures
from ssl_tf.testing import (
    AfterStep,
    TestCase,
    smoke_config,
    smoke_pretrain_argv,
    tiny_encoder,
    tiny_images,
)
from ssl_tf.training import checkpoints, run

NAN_STEP = 3  # the first step whose loss is NaN
# Two epochs of 4 steps, a checkpoint after each step.
CHECKPOINT_EVERY_STEP = {
    "train.epochs": "2",
    "train.steps_per_epoch": "4",
    "train.checkpoint_every_steps": "1",
}


def poison_encoder(model):
    """Sets an encoder kernel to NaN."""
    kernel = model.encoder.trainable_weights[0]
    kernel.assign(tf.fill(kernel.shape, float("nan")))


def latest_step(directory):
    latest = tf.train.latest_checkpoint(directory)
    return int(re.search(r"ckpt-(\d+)$", latest).group(1)), latest


class DivergenceTest(TestCase):
    def test_nan_stops_training_and_keeps_last_good_checkpoint(self):
        tmp = self.get_temp_dir()
        config = smoke_config(tmp, name="nan", **CHECKPOINT_EVERY_STEP)
        arrays = (tiny_images(32), None)
        poison = AfterStep(NAN_STEP - 1, poison_encoder)
        with self.assertRaisesRegex(
            checkpoints.TrainingDivergedError,
            rf"Loss became nan at epoch 0, step {NAN_STEP} \(global step "
            rf"{NAN_STEP}\)\..*nothing was exported",
        ):
            run.pretrain(
                config,
                arrays=arrays,
                extra_callbacks=[poison],
                verbose=0,
            )
        self.assertFalse(os.path.exists(os.path.join(tmp, "saved")))
        directory = os.path.join(tmp, "runs", "nan", "checkpoints")
        step, _ = latest_step(directory)
        self.assertEqual(step, NAN_STEP - 1)

        # Restoring the latest checkpoint into the diverged model itself
        # brings back the last good (finite) weights and position.
        model = poison.model
        kernel = model.encoder.trainable_weights[0]
        self.assertFalse(np.isfinite(kernel.numpy()).all())
        restored = checkpoints.Checkpointer(directory, model, model.optimizer)
        self.assertEqual(restored.restore(), (0, NAN_STEP - 1))
        self.assertEqual(int(model.optimizer.iterations.numpy()), NAN_STEP - 1)
        for variable in model.weights + model.optimizer.variables:
            self.assertTrue(np.isfinite(variable.numpy()).all(), variable.path)

    def test_cli_exit_code_3_on_divergence(self):
        tmp = self.get_temp_dir()
        folder = os.path.join(tmp, "images")
        os.makedirs(folder)
        for i, image in enumerate(tiny_images(16)):
            Image.fromarray(image).save(os.path.join(folder, f"{i:02d}.png"))
        command = [
            sys.executable,
            "-m",
            "ssl_tf.cli",
            *smoke_pretrain_argv(
                tmp,
                "data.source=folder",
                f"data.name={folder}",
                "train.learning_rate=1e30",
                "train.steps_per_epoch=3",
                "train.checkpoint_every_steps=1",
                name="diverged",
            ),
        ]
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        process = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=300
        )
        self.assertEqual(process.returncode, 3, process.stderr[-3000:])
        match = re.search(
            r"^error: Loss became (nan|inf|-inf) at epoch 0, step (\d+) "
            r"\(global step (\d+)\)",
            process.stderr,
            re.MULTILINE,
        )
        self.assertIsNotNone(match, process.stderr[-3000:])
        self.assertNotIn("Traceback", process.stderr)
        self.assertFalse(os.path.exists(os.path.join(tmp, "saved")))
        nan_step = int(match.group(3))
        directory = os.path.join(tmp, "runs", "diverged", "checkpoints")
        if nan_step > 1:
            step, latest = latest_step(directory)
            self.assertLess(step, nan_step)
            reader = tf.train.load_checkpoint(latest)
            for key in reader.get_variable_to_shape_map():
                value = reader.get_tensor(key)
                if np.issubdtype(np.asarray(value).dtype, np.floating):
                    self.assertTrue(np.isfinite(value).all(), key)


SIZE = 16


def snapshot(directory):
    files = {}
    for root, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as handle:
                digest = hashlib.sha256(handle.read()).hexdigest()
            files[os.path.relpath(path, directory)] = digest
    return files


class ExportTest(TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.encoder = tiny_encoder(strides=2, input_size=SIZE)
        # One export with metadata version 1, copied by the tests that need
        # an existing export.
        cls.first = os.path.join(tempfile.mkdtemp(), "encoder")
        export.export_encoder(
            cls.encoder, cls.first, SIZE, metadata={"version": 1}
        )

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(os.path.dirname(cls.first), ignore_errors=True)
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.parent = os.path.join(self.get_temp_dir(), "saved")
        self.target = os.path.join(self.parent, "encoder")

    def existing_export(self):
        shutil.copytree(self.first, self.target)

    def assert_only_the_export_in(self, parent):
        self.assertEqual(os.listdir(parent), ["encoder"])

    @parameterized.named_parameters(
        ("negative_tolerance", "tolerance"),
        ("nan_weights", "nan"),
        ("keras_save_fails", "save"),
        ("metadata_fails", "fingerprint"),
    )
    def test_failure_leaves_existing_export_untouched(self, failure):
        self.existing_export()
        before = snapshot(self.target)
        encoder, kwargs, patch = (
            self.encoder,
            {},
            mock.patch.object(saved_model, "time", wraps=saved_model.time),
        )
        if failure == "tolerance":
            kwargs = {"tolerance": -1}
            expected = (export.ExportError, "disagrees")
        elif failure == "nan":
            encoder = tiny_encoder(seed=1, strides=2, input_size=SIZE)
            kernel = encoder.trainable_weights[0]
            kernel.assign(tf.fill(kernel.shape, float("nan")))
            expected = (export.ExportError, "disagrees")
        elif failure == "save":
            patch = mock.patch.object(
                keras.Model,
                "save",
                side_effect=OSError("No space left on device"),
            )
            expected = (OSError, "No space left")
        else:
            patch = mock.patch.object(
                saved_model,
                "encoder_fingerprint",
                side_effect=OSError("I/O error"),
            )
            expected = (OSError, "I/O error")
        with patch, self.assertRaisesRegex(*expected):
            export.export_encoder(
                encoder, self.target, SIZE, metadata={"version": 2}, **kwargs
            )
        self.assertEqual(snapshot(self.target), before)
        self.assertEqual(export.read_metadata(self.target)["version"], 1)
        self.assert_only_the_export_in(self.parent)

    def test_failed_first_export_creates_nothing(self):
        os.makedirs(self.parent)
        with self.assertRaises(export.ExportError):
            export.export_encoder(self.encoder, self.target, SIZE, tolerance=-1)
        self.assertEqual(os.listdir(self.parent), [])

    def test_successful_export_replaces_the_older_one(self):
        self.existing_export()
        newer = tiny_encoder(seed=5, strides=2, input_size=SIZE)
        images = tiny_images(3, SIZE, seed=9)
        old_embedding = export.LoadedEncoder(self.target).embed(images)
        export.export_encoder(newer, self.target, SIZE, metadata={"version": 2})
        self.assert_only_the_export_in(self.parent)
        self.assertEqual(export.read_metadata(self.target)["version"], 2)
        loaded = export.LoadedEncoder(self.target)
        embedding = loaded.embed(images)
        expected = signatures.serving_fn(newer, SIZE)(tf.constant(images))
        self.assertAllClose(embedding, expected["embedding"], atol=1e-4)
        self.assertNotAllClose(embedding, old_embedding)
        # Both halves of the export hold the new weights.
        keras_model = export.load_keras_encoder(self.target)
        for a, b in zip(keras_model.weights, newer.weights, strict=True):
            self.assertAllClose(a.numpy(), b.numpy())

    def test_failed_install_keeps_the_old_export(self):
        self.existing_export()
        before = snapshot(self.target)
        real_replace = os.replace

        def replace(source, destination):
            if ".tmp-" in str(source) and destination == self.target:
                raise OSError("rename failed")
            return real_replace(source, destination)

        with mock.patch.object(saved_model.os, "replace", replace):
            with self.assertRaisesRegex(OSError, "rename failed"):
                export.export_encoder(
                    tiny_encoder(seed=5, strides=2, input_size=SIZE),
                    self.target,
                    SIZE,
                    metadata={"version": 2},
                )
        self.assertEqual(snapshot(self.target), before)
        self.assert_only_the_export_in(self.parent)

    def test_keras_file_loads_in_safe_mode(self):
        self.existing_export()
        path = os.path.join(self.target, saved_model.KERAS_FILE)
        model = export.load_keras_encoder(path)
        images = tiny_images(2, SIZE)
        from_keras = export.LoadedEncoder(path).embed(images)
        from_saved_model = export.LoadedEncoder(self.target).embed(images)
        self.assertAllClose(from_keras, from_saved_model, atol=1e-4)
        self.assertLen(model.weights, len(self.encoder.weights))

    def test_keras_file_with_a_lambda_layer_is_refused(self):
        inputs = keras.Input((SIZE, SIZE, 3))
        outputs = keras.layers.Lambda(lambda x: x * 2.0)(inputs)
        outputs = keras.layers.GlobalAveragePooling2D()(outputs)
        path = os.path.join(self.get_temp_dir(), "lambda.keras")
        keras.Model(inputs, outputs).save(path)
        with open(os.path.join(self.get_temp_dir(), "export.json"), "w") as f:
            json.dump({"image_size": SIZE}, f)
        with self.assertRaisesRegex(ValueError, "safe_mode"):
            export.load_keras_encoder(path)
        with self.assertRaisesRegex(ValueError, "safe_mode"):
            export.LoadedEncoder(path)


if __name__ == "__main__":
    tf.test.main()
