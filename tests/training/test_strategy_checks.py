"""`multi_worker_mirrored` and XLA: refused before any data is read."""

import json
import os
from unittest import mock

from absl.testing import parameterized

from ssl_tf.config import ConfigError
from ssl_tf.testing import TestCase, smoke_config
from ssl_tf.training import plan

WORKERS = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}


class MultiWorkerConfigTest(TestCase):
    def prepare_without_data(self, **overrides):
        """`plan.prepare` of a run whose data cannot be read.

        A folder that does not exist: reading it would raise a DataError,
        so a ConfigError proves the check came first.
        """
        tmp = self.get_temp_dir()
        config = smoke_config(
            tmp,
            **{
                "train.strategy": "multi_worker_mirrored",
                "data.source": "folder",
                "data.name": os.path.join(tmp, "no_such_folder"),
                **overrides,
            },
        )
        try:
            plan.prepare(config)
        finally:
            self.assertFalse(os.path.exists(os.path.join(tmp, "runs")))

    def test_missing_tf_config(self):
        environ = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
        with mock.patch.dict(os.environ, environ, clear=True):
            with self.assertRaisesRegex(
                ConfigError,
                r"^`train.strategy='multi_worker_mirrored'` needs the "
                r"TF_CONFIG environment variable, e\.g\. '\{\"cluster\": "
                r"\{\"worker\": \[\"host1:2222\", \"host2:2222\"\]\}, "
                r"\"task\": \{\"type\": \"worker\", \"index\": 0\}\}' on "
                r"the first host\.$",
            ):
                self.prepare_without_data()

    def test_tf_config_that_is_not_json(self):
        with mock.patch.dict(os.environ, {"TF_CONFIG": "{cluster: 1"}):
            with self.assertRaisesRegex(
                ConfigError,
                r"^`train.strategy='multi_worker_mirrored'` needs TF_CONFIG "
                r"to be JSON \(Expecting property name enclosed in double "
                r"quotes: line 1 column 2 \(char 1\)\)\. Received: "
                r"TF_CONFIG='\{cluster: 1'$",
            ):
                self.prepare_without_data()

    @parameterized.named_parameters(
        ("no_cluster", {"task": {"type": "worker", "index": 0}}),
        ("no_task", {"cluster": WORKERS}),
        ("no_workers", {"cluster": {"worker": []}, "task": {}}),
        (
            "index_out_of_range",
            {"cluster": WORKERS, "task": {"type": "worker", "index": 2}},
        ),
        (
            "unknown_job",
            {"cluster": WORKERS, "task": {"type": "ps", "index": 0}},
        ),
        ("a_list", [WORKERS]),
    )
    def test_tf_config_without_a_usable_task(self, tf_config):
        text = json.dumps(tf_config)
        with mock.patch.dict(os.environ, {"TF_CONFIG": text}):
            with self.assertRaises(ConfigError) as caught:
                self.prepare_without_data()
        message = str(caught.exception)
        self.assertStartsWith(
            message,
            "`train.strategy='multi_worker_mirrored'` needs TF_CONFIG to "
            "list the `cluster.worker` addresses and name this host's "
            "`task` in them, e.g. ",
        )
        self.assertEndsWith(message, f"Received: TF_CONFIG={text!r}")

    def test_strategy_names_in_the_config_error(self):
        config = smoke_config(
            self.get_temp_dir(), **{"train.strategy": "multiworker"}
        )
        with self.assertRaisesRegex(
            ConfigError,
            r"^`train.strategy` must be one of \['auto', 'cpu:N', "
            r"'default', 'mirrored', 'multi_worker_mirrored', 'tpu'\]\. "
            r"Received: train.strategy='multiworker'$",
        ):
            config.validate()


class XlaOnCpuReplicasTest(TestCase):
    def test_jit_compile_with_two_cpu_replicas_is_refused(self):
        # Measured: the compiled step fails at its first run with an
        # InvalidArgumentError from the CPU collectives.
        config = smoke_config(
            self.get_temp_dir(),
            **{"train.strategy": "cpu:2", "train.jit_compile": "true"},
        )
        with self.assertRaisesRegex(
            ConfigError,
            r"^`train.jit_compile=True` does not work with 2 replicas on "
            r"CPU\. Set `train.jit_compile=False`\.$",
        ):
            plan.make_strategy(config)

    def test_jit_compile_on_one_device_is_accepted(self):
        config = smoke_config(
            self.get_temp_dir(),
            **{"train.strategy": "cpu:1", "train.jit_compile": "true"},
        )
        self.assertEqual(plan.make_strategy(config).num_replicas_in_sync, 1)
