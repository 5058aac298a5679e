"""Refused runs: each config error has its message and creates nothing."""

import os

import pytest
import tensorflow as tf
from absl.testing import parameterized

from ssl_tf.config import ConfigError, ExperimentConfig
from ssl_tf.data import DataError
from ssl_tf.methods import list_methods
from ssl_tf.testing import (
    TestCase,
    error_lines,
    run_cli,
    smoke_config,
    smoke_pretrain_argv,
    tiny_images,
)
from ssl_tf.training import run

TFDS_DIR = "/work/shared/tfds"


# (name, method, overrides, error, message regex, key named on the CLI).
# `{tmp}` in an override is the test's temp dir.
CASES = [
    (
        "unknown_key",
        "simclr",
        {"train.batchsize": "4"},
        ConfigError,
        r"Unknown config key 'train.batchsize'.*"
        r"Did you mean 'train.batch_size'\?",
        "batchsize",
    ),
    (
        "unknown_method_option",
        "simclr",
        {"temprature": "0.5"},
        ConfigError,
        r"Unknown config key 'temprature'\. Did you mean 'temperature'\?",
        "temprature",
    ),
    (
        "unknown_section",
        "simclr",
        {"trian.epochs": "1"},
        ConfigError,
        r"Unknown config section 'trian' in 'trian\.epochs'.*"
        r"Did you mean 'train'\?",
        "trian",
    ),
    (
        "temperature_zero",
        "simclr",
        {"temperature": "0"},
        ConfigError,
        r"`temperature` must be positive\. Received: temperature=0",
        "temperature",
    ),
    (
        "temperature_negative",
        "simclr",
        {"temperature": "-0.5"},
        ConfigError,
        r"`temperature` must be positive\. Received: temperature=-0\.5",
        "temperature",
    ),
    (
        "batch_size_one",
        "simclr",
        {"train.batch_size": "1"},
        ConfigError,
        r"`train\.batch_size` must be >= 2\. Received: train\.batch_size=1",
        "train.batch_size",
    ),
    (
        "image_smaller_than_encoder",
        "simclr",
        {"encoder.stem": "imagenet", "data.image_size": "16"},
        ConfigError,
        r"`data\.image_size` must be >= 32 for encoder 'resnet18' with the "
        r"imagenet stem\. Received: data\.image_size=16",
        "data.image_size",
    ),
    (
        "tfds_missing_split",
        "simclr",
        {
            "data.source": "tfds",
            "data.name": "cifar10",
            "data.data_dir": TFDS_DIR,
            "data.split": "validation",
        },
        DataError,
        r"Dataset 'cifar10' has no split 'validation'\. Available splits: "
        r"\['test', 'train'\]",
        "validation",
    ),
    (
        "tfds_missing_dataset",
        "simclr",
        {
            "data.source": "tfds",
            "data.name": "no_such_dataset",
            "data.data_dir": TFDS_DIR,
        },
        DataError,
        r"Unknown TFDS dataset 'no_such_dataset'",
        "no_such_dataset",
    ),
    (
        "tfds_not_prepared",
        "simclr",
        {
            "data.source": "tfds",
            "data.name": "cifar10",
            "data.data_dir": "{tmp}",
        },
        DataError,
        r"TFDS dataset 'cifar10' is not prepared in .*\(searched .*; "
        r"data_dir from data\.data_dir\)\. Set TFDS_DATA_DIR or "
        r"data\.data_dir .*tfds build cifar10 --data_dir ",
        "TFDS_DATA_DIR",
    ),
    (
        "missing_folder",
        "simclr",
        {"data.source": "folder", "data.name": "{tmp}/no_such_folder"},
        DataError,
        r"Image folder '.*/no_such_folder' does not exist\.",
        "no_such_folder",
    ),
    (
        "missing_manifest",
        "simclr",
        {"data.source": "manifest", "data.name": "{tmp}/no_such.csv"},
        DataError,
        r"Manifest file '.*/no_such\.csv' does not exist\.",
        "no_such.csv",
    ),
    (
        "unknown_source",
        "simclr",
        {"data.source": "folders"},
        ConfigError,
        r"`data\.source` must be one of .*Did you mean 'folder'\?",
        "data.source",
    ),
    (
        "moco_queue_not_multiple_of_batch",
        "moco",
        {"queue_size": "100"},
        ConfigError,
        r"`queue_size` must be a positive multiple of `train\.batch_size` "
        r"\(8\)\. Received: queue_size=100",
        "queue_size",
    ),
]

UNWRITABLE = [
    (
        "unwritable_output_dir",
        "simclr",
        {"output_dir": "{tmp}/a_file/runs"},
        ConfigError,
        r"`output_dir` '.*/a_file/runs' is not writable",
        "output_dir",
    ),
    (
        "unwritable_export_dir",
        "simclr",
        {"export_dir": "{tmp}/a_file/saved"},
        ConfigError,
        r"`export_dir` '.*/a_file/saved' is not writable",
        "export_dir",
    ),
]

_MOCO = pytest.mark.skipif(
    "moco" not in list_methods(),
    reason="the `moco` method is not registered (module being written)",
)


def fill(overrides, tmp):
    return {k: v.format(tmp=tmp) for k, v in overrides.items()}


class ConfigErrorsTest(TestCase):
    def setUp(self):
        super().setUp()
        self.tmp = self.get_temp_dir()
        # A regular file: no directory can be created below it.
        with open(os.path.join(self.tmp, "a_file"), "w") as handle:
            handle.write("not a directory")

    def assert_nothing_created(self):
        for name in ("runs", "saved"):
            self.assertFalse(os.path.exists(os.path.join(self.tmp, name)))

    def check_python_api(self, method, overrides, error, message):
        if method == "moco" and "moco" not in list_methods():
            self.skipTest("the `moco` method is not registered")
        with self.assertRaisesRegex(error, message):
            config = smoke_config(
                self.tmp, method, name="refused", **fill(overrides, self.tmp)
            )
            run.pretrain(config, arrays=(tiny_images(16), None), verbose=0)
        self.assert_nothing_created()

    def check_cli(self, method, overrides, message, key):
        if method == "moco" and "moco" not in list_methods():
            self.skipTest("the `moco` method is not registered")
        argv = smoke_pretrain_argv(
            self.tmp,
            *(f"{k}={v}" for k, v in fill(overrides, self.tmp).items()),
            method=method,
            name="refused",
        )
        code, _, stderr = run_cli(argv)
        self.assertEqual(code, 2, stderr)
        errors = error_lines(stderr)
        self.assertLen(errors, 1, stderr)
        self.assertIn(key, errors[0])
        self.assertRegex(stderr, message)
        self.assertNotIn("Traceback", stderr)
        self.assert_nothing_created()

    @parameterized.named_parameters((name, *rest) for name, *rest in CASES)
    def test_python_api(self, method, overrides, error, message, key):
        self.check_python_api(method, overrides, error, message)

    @parameterized.named_parameters((name, *rest) for name, *rest in CASES)
    def test_cli(self, method, overrides, error, message, key):
        self.check_cli(method, overrides, message, key)

    @parameterized.named_parameters((name, *rest) for name, *rest in UNWRITABLE)
    def test_python_api_unwritable(
        self, method, overrides, error, message, key
    ):
        self.check_python_api(method, overrides, error, message)

    @parameterized.named_parameters((name, *rest) for name, *rest in UNWRITABLE)
    def test_cli_unwritable(self, method, overrides, error, message, key):
        self.check_cli(method, overrides, message, key)

    @_MOCO
    def test_moco_queue_multiple_of_batch_is_accepted(self):
        config = smoke_config(
            self.tmp, "moco", name="refused", **{"queue_size": "64"}
        )
        run.check_before_work(config)  # does not raise
        self.assert_nothing_created()

    @parameterized.named_parameters(
        (
            "unknown_key",
            {"train": {"batchsize": 4}},
            r"Unknown config key 'batchsize' for TrainConfig.*"
            r"Did you mean 'batch_size'\?",
        ),
        (
            "unknown_section",
            {"trian": {"epochs": 1}},
            r"Unknown config key 'trian'.*Did you mean 'train'\?",
        ),
        ("section_not_a_mapping", {"train": 3}, r"`train` must be a mapping"),
        (
            "bad_type",
            {"train": {"batch_size": "eight"}},
            r"`batch_size` expects int\. Received: batch_size='eight'",
        ),
    )
    def test_json_config_errors(self, raw, message):
        import json

        with self.assertRaisesRegex(ConfigError, message):
            ExperimentConfig.from_json(json.dumps(raw))


if __name__ == "__main__":
    tf.test.main()
