"""Strategy names -> replicas, and the checks `prepare` makes before data."""

import os

import tensorflow as tf
from absl.testing import parameterized

from ssl_tf.config import ConfigError
from ssl_tf.testing import TestCase, smoke_config
from ssl_tf.training import plan
from ssl_tf.training import strategy as strategy_lib

# conftest.py splits the CPU into two logical devices.
CPU = "/job:localhost/replica:0/task:0/device:CPU:{}"


class MakeStrategyTest(TestCase):
    @parameterized.named_parameters(
        ("one_cpu", "cpu:1", [CPU.format(0)]),
        ("two_cpus", "cpu:2", [CPU.format(0), CPU.format(1)]),
        # No GPU here: MirroredStrategy mirrors over the logical CPUs.
        ("mirrored", "mirrored", [CPU.format(0), CPU.format(1)]),
    )
    def test_mirrored_names_give_their_devices(self, name, devices):
        strategy = strategy_lib.make_strategy(name)
        self.assertIsInstance(strategy, tf.distribute.MirroredStrategy)
        self.assertEqual(strategy.num_replicas_in_sync, len(devices))
        self.assertEqual(list(strategy.extended.worker_devices), devices)

    @parameterized.named_parameters(("default", "default"), ("auto", "auto"))
    def test_default_and_auto_without_accelerators(self, name):
        # No TPU and fewer than two GPUs: the default one-device strategy.
        strategy = strategy_lib.make_strategy(name)
        self.assertIs(strategy, tf.distribute.get_strategy())
        self.assertEqual(strategy.num_replicas_in_sync, 1)

    def test_more_cpus_than_configured(self):
        # A ConfigError, so the CLI prints it without a traceback.
        with self.assertRaisesRegex(
            ConfigError,
            r"^`train.strategy='cpu:3'` needs 3 logical CPU devices; 2 are "
            r"configured\.$",
        ):
            strategy_lib.make_strategy("cpu:3")

    def test_tpu_without_a_tpu(self):
        with self.assertRaisesRegex(
            ConfigError, r"^`train.strategy='tpu'` but no TPU was found\.$"
        ):
            strategy_lib.make_strategy("tpu")


class PrepareChecksFirstTest(TestCase):
    def test_batch_not_divisible_by_replicas_fails_before_data(self):
        tmp = self.get_temp_dir()
        # A folder that does not exist: reading the data would raise a
        # DataError, so the ConfigError proves the check came first.
        config = smoke_config(
            tmp,
            **{
                "train.strategy": "cpu:2",
                "train.batch_size": "7",
                "data.source": "folder",
                "data.name": os.path.join(tmp, "no_such_folder"),
            },
        )
        with self.assertRaisesRegex(
            ConfigError,
            r"^`train.batch_size`=7 must be divisible by the 2 replicas\.$",
        ):
            plan.prepare(config)
        self.assertFalse(os.path.exists(os.path.join(tmp, "runs")))

    def test_divisible_batch_is_accepted(self):
        config = smoke_config(
            self.get_temp_dir(), **{"train.strategy": "cpu:2"}
        )
        strategy = plan.make_strategy(config)
        self.assertEqual(strategy.num_replicas_in_sync, 2)
