"""Config drift on resume: a changed config is refused unless it is safe."""

import dataclasses
import json
import os
import shutil
import tempfile
from unittest import mock

from absl.testing import parameterized

from ssl_tf import methods
from ssl_tf.config import ConfigError, all_keys
from ssl_tf.testing import (
    TestCase,
    smoke_config,
    tiny_images,
    write_image_folder,
)
from ssl_tf.training import drift, plan, run

# One step per epoch: every fit here is a 1-step fit.
ONE_STEP = {"train.epochs": "1", "train.steps_per_epoch": "1"}


def changed_lines(error):
    """The `key: old -> new` lines of a drift refusal."""
    return [line.strip() for line in str(error).splitlines() if " -> " in line]


def class_temp_dir(cls):
    """A temporary directory removed after the test class."""
    directory = tempfile.mkdtemp()
    cls.addClassCleanup(shutil.rmtree, directory)
    return directory


def fit(config, arrays=None):
    return run.pretrain(config, arrays=arrays, verbose=0, do_export=False)


def record(directory):
    with open(os.path.join(directory, drift.RECORD)) as handle:
        return json.load(handle)["config"]


class RefusalTest(TestCase):
    """Reruns of one finished folder run; the folder is gone by then."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = class_temp_dir(cls)
        cls.folder = os.path.join(cls.tmp, "images")
        write_image_folder(cls.folder, tiny_images(8))
        cls.first = fit(cls.config())
        # Reading the data now raises DataError: a ConfigError proves the
        # drift check came before any data was read (or model built).
        shutil.rmtree(cls.folder)

    @classmethod
    def config(cls, **overrides):
        return smoke_config(
            cls.tmp,
            name="folder",
            **{
                "data.source": "folder",
                "data.name": cls.folder,
                **ONE_STEP,
                **overrides,
            },
        )

    def rerun_error(self, **overrides):
        path = os.path.join(self.first.run_dir, drift.RECORD)
        with open(path, "rb") as handle:
            before = handle.read()
        with self.assertRaises(ConfigError) as caught:
            fit(self.config(**overrides))
        with open(path, "rb") as handle:
            self.assertEqual(handle.read(), before)
        return caught.exception

    def test_changed_batch_size_is_refused_naming_both_values(self):
        error = self.rerun_error(**{"train.batch_size": "4"})
        self.assertEqual(changed_lines(error), ["train.batch_size: 8 -> 4"])
        self.assertIn("a new `name` or `output_dir`", str(error))
        self.assertIn(self.first.run_dir, str(error))

    def test_every_unsafe_change_is_listed_and_no_safe_one(self):
        error = self.rerun_error(
            **{
                "train.batch_size": "4",
                "temperature": "0.2",
                "encoder.width": "0.25",
                "train.keep_checkpoints": "5",
                "export_dir": os.path.join(self.tmp, "elsewhere"),
            }
        )
        self.assertEqual(
            changed_lines(error),
            [
                "encoder.width: 0.125 -> 0.25",
                "method_options.temperature: 0.1 -> 0.2",
                "train.batch_size: 8 -> 4",
            ],
        )


class ResumeTest(TestCase):
    """Reruns of a copy of one finished 1-step run on in-memory images."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.finished = class_temp_dir(cls)
        fit(
            smoke_config(cls.finished, name="drift", **ONE_STEP),
            (tiny_images(8), None),
        )

    def setUp(self):
        super().setUp()
        self.tmp = self.get_temp_dir()
        # Checkpoint indexes hold relative paths: the copy resumes as is.
        shutil.copytree(self.finished, self.tmp, dirs_exist_ok=True)
        self.arrays = (tiny_images(8), None)

    def config(self, **overrides):
        return smoke_config(self.tmp, name="drift", **{**ONE_STEP, **overrides})

    def pretrain(self, **overrides):
        return fit(self.config(**overrides), self.arrays)

    def test_extending_epochs_resumes_and_logs_the_safe_changes(self):
        run_dir = run.run_dir(self.config())
        with self.assertLogs("ssl_tf.training", "INFO") as logs:
            again = self.pretrain(
                **{"train.epochs": "2", "train.keep_checkpoints": "5"}
            )
        self.assertEqual(again.resumed_from, (1, 0))
        self.assertEqual(int(again.model.optimizer.iterations), 2)
        self.assertLen(again.history["loss"], 1)
        text = "\n".join(logs.output)
        self.assertIn("train.epochs: 1 -> 2", text)
        self.assertIn("train.keep_checkpoints: 3 -> 5", text)
        self.assertEqual(record(run_dir)["train.epochs"], 2)
        # Two epochs are done now: going back to one is refused.
        with self.assertRaisesRegex(
            ConfigError,
            r"train\.epochs: 2 -> 1 \(the checkpoint is at epoch 2, step 0\)",
        ):
            self.pretrain()

    def test_method_option_at_its_default_is_not_drift(self):
        default = methods.make_method_config("simclr", {}).temperature
        run_dir = run.run_dir(self.config())
        again = self.pretrain(temperature=str(default))
        self.assertEqual(again.resumed_from, (1, 0))
        self.assertEqual(again.history, {})
        self.assertEqual(record(run_dir)["method_options.temperature"], default)
        # Other in-memory images are another data source.
        self.arrays = (tiny_images(8, seed=1), None)
        with self.assertRaisesRegex(ConfigError, r'data\.name: "arrays 8x16'):
            self.pretrain()

    def test_a_record_from_before_crop_from_resized_to_a_square(self):
        run_dir = run.run_dir(self.config())
        path = os.path.join(run_dir, drift.RECORD)
        with open(path) as handle:
            written = json.load(handle)
        del written["config"]["data.crop_from"]
        with open(path, "w") as handle:
            json.dump(written, handle)
        with self.assertRaisesRegex(
            ConfigError, r'data\.crop_from: "square" -> "original"'
        ):
            self.pretrain()
        again = self.pretrain(**{"data.crop_from": "square"})
        self.assertEqual(again.resumed_from, (1, 0))

    def test_legacy_run_directory_resumes_and_is_recorded(self):
        run_dir = run.run_dir(self.config())
        os.remove(os.path.join(run_dir, drift.RECORD))
        with self.assertLogs("ssl_tf.training", "WARNING") as logs:
            again = self.pretrain()
        self.assertIn("no resolved_config.json", logs.output[0])
        self.assertEqual(again.resumed_from, (1, 0))
        config = self.config()
        strategy = plan.make_strategy(config)
        self.assertEqual(
            record(run_dir),
            drift.resolve(config, strategy, self.arrays),
        )
        self.assertEqual(
            [f for f in os.listdir(run_dir) if f.endswith(".tmp")], []
        )
        # From now on the record protects the run.
        with self.assertRaisesRegex(ConfigError, r"train\.batch_size: 8 -> 4"):
            self.pretrain(**{"train.batch_size": "4"})


class ResolveTest(TestCase):
    def test_safe_keys_are_config_keys(self):
        self.assertEqual(set(drift.SAFE_KEYS) - set(all_keys()), set())
        self.assertIn(drift.EPOCHS, all_keys())

    @parameterized.named_parameters(
        (name, name) for name in methods.list_methods()
    )
    def test_explicit_method_defaults_resolve_the_same(self, method):
        config = smoke_config("/unused", method)
        defaults = dataclasses.asdict(
            methods.make_method_config(method, config.method_options)
        )
        explicit = dataclasses.replace(config, method_options=defaults)
        self.assertEqual(drift.resolve(config), drift.resolve(explicit))

    def test_epochs_may_shrink_to_what_is_done_and_no_further(self):
        # The checkpoint is at epoch 2, step 1: two epochs and one step done.
        for new, refused in ((2, True), (3, False), (6, False)):
            lines = drift.compare(
                {"train.epochs": 4}, {"train.epochs": new}, (2, 1)
            )
            self.assertEqual(bool(lines[0]), refused, new)
            self.assertEqual(bool(lines[1]), not refused, new)

    def test_folder_is_compared_by_the_path_it_reads(self):
        folder = self.get_temp_dir()
        absolute, relative = (
            smoke_config(
                "/unused",
                **{"data.source": "folder", "data.name": name},
            )
            for name in (folder, os.path.relpath(folder))
        )
        self.assertEqual(drift.resolve(absolute), drift.resolve(relative))
        other = smoke_config(
            "/unused",
            **{"data.source": "folder", "data.name": folder + "-other"},
        )
        self.assertNotEqual(drift.resolve(absolute), drift.resolve(other))

    def test_tfds_data_dir_falls_back_to_the_environment(self):
        data_dir = self.get_temp_dir()
        tfds, explicit = (
            smoke_config(
                "/unused", **{"data.source": "tfds", "data.data_dir": value}
            )
            for value in ("none", data_dir)
        )
        with mock.patch.dict(os.environ, {"TFDS_DATA_DIR": data_dir}):
            self.assertEqual(drift.resolve(tfds), drift.resolve(explicit))
        with mock.patch.dict(os.environ, {"TFDS_DATA_DIR": ""}):
            self.assertNotEqual(drift.resolve(tfds), drift.resolve(explicit))
