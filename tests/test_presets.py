"""Tests for `ssl_tf.presets`: the registry, the name rule, every preset."""

import io
import itertools
import textwrap
from contextlib import redirect_stdout

from absl.testing import parameterized

from ssl_tf import cli, methods, presets
from ssl_tf.config import ConfigError
from ssl_tf.registry import PRESETS
from ssl_tf.testing import TestCase

TOY_PRESET = textwrap.dedent(
    '''
    """A throwaway preset: rotation by default, tuned for MoCo."""

    from ssl_tf.config import DataConfig, ExperimentConfig, TrainConfig
    from ssl_tf.presets import register_preset

    register_preset(
        "toy-preset",
        base=ExperimentConfig(
            method="rotation",
            data=DataConfig("arrays", "arrays", image_size=24),
            train=TrainConfig(batch_size=16, epochs=3),
        ),
        per_method={
            "moco": {"train.optimizer": "sgd", "temperature": 0.3},
        },
    )
    '''
)


class PresetRegistryTest(TestCase):
    def test_a_new_file_adds_a_preset_everywhere(self):
        self.add_module_file(presets, TOY_PRESET, PRESETS, "toy-preset")
        self.assertIn("toy-preset", presets.list_presets())
        out = io.StringIO()
        with redirect_stdout(out):
            cli.main(["presets"])
        self.assertIn("toy-preset", out.getvalue().splitlines())
        default = presets.get_preset("toy-preset")
        self.assertEqual(default.name, "toy-preset")
        self.assertEqual(default.method, "rotation")
        self.assertEqual(default.data.image_size, 24)
        self.assertEqual(default.train.optimizer, "lars")
        self.assertEqual(default.method_options, {})
        tuned = presets.get_preset("toy-preset", "moco").validate()
        self.assertEqual(tuned.name, "toy-preset-moco")
        self.assertEqual(tuned.train.optimizer, "sgd")
        self.assertEqual(tuned.train.batch_size, 16)
        self.assertEqual(tuned.method_options, {"temperature": 0.3})

    def test_unregister_removes_a_preset(self):
        presets.register_preset("toy-gone", base=presets.get_preset("smoke"))
        self.assertIn("toy-gone", presets.list_presets())
        presets.unregister_preset("toy-gone")
        self.assertNotIn("toy-gone", presets.list_presets())

    def test_unknown_preset_lists_available_and_closest(self):
        with self.assertRaisesRegex(
            ConfigError,
            r"^Unknown preset 'smok'\. Available: \['cifar10-quick', "
            r"'cifar10-resnet18', 'imagenet-resnet50', 'smoke'\]\. "
            r"Did you mean 'smoke'\?$",
        ):
            presets.get_preset("smok")

    def test_unknown_method_is_refused(self):
        with self.assertRaisesRegex(
            ConfigError, r"`method` must be one of .*Received: method='mocco'"
        ):
            presets.get_preset("smoke", "mocco")

    def test_duplicate_registration_is_refused(self):
        with self.assertRaisesRegex(KeyError, "'smoke' is already registered"):
            presets.register_preset("smoke", base=presets.get_preset("smoke"))


class PresetNameTest(TestCase):
    @parameterized.named_parameters(
        ("default", None, "cifar10-quick"),
        ("same_as_default", "simclr", "cifar10-quick"),
        ("other_method", "moco", "cifar10-quick-moco"),
    )
    def test_other_methods_add_a_suffix(self, method, expected):
        self.assertEqual(
            presets.get_preset("cifar10-quick", method).name, expected
        )


class EveryPresetTest(TestCase):
    @parameterized.named_parameters(
        (f"{preset}_{method}", preset, method)
        for preset, method in itertools.product(
            presets.list_presets(), methods.list_methods()
        )
    )
    def test_validates(self, preset, method):
        config = presets.get_preset(preset, method).validate()
        self.assertEqual(config.method, method)

    def test_quick_moco_is_the_measured_recipe(self):
        # README: SGD 0.3, wd 1e-4, T 0.1, 6 epochs (0.65x SimCLR's cost).
        config = presets.get_preset("cifar10-quick", "moco")
        moco = methods.make_method_config("moco", config.method_options)
        self.assertEqual(
            (moco.temperature, moco.queue_size, moco.momentum),
            (0.1, 4096, 0.99),
        )
        train = config.train
        self.assertEqual(
            (train.optimizer, train.learning_rate, train.weight_decay),
            ("sgd", 0.3, 1e-4),
        )
        self.assertEqual(train.epochs, 6)

    def test_quick_rotation_halves_batch_and_epochs(self):
        # Half SimCLR's batch (4 rotations) and epochs; the measured rate.
        config = presets.get_preset("cifar10-quick", "rotation")
        self.assertEqual(
            (config.train.batch_size, config.train.epochs), (128, 2)
        )
        self.assertEqual(config.train.learning_rate, 0.4)
        self.assertEqual(config.augment.crop_scale, (0.5, 1.0))

    @parameterized.named_parameters(
        ("quick", "cifar10-quick", 0.2),
        ("resnet18", "cifar10-resnet18", 0.2),
        ("imagenet", "imagenet-resnet50", 0.1),
    )
    def test_supervised_uses_coupled_sgd(self, preset, learning_rate):
        config = presets.get_preset(preset, "supervised")
        self.assertEqual(config.train.optimizer, "sgd")
        self.assertEqual(config.train.learning_rate, learning_rate)

    @parameterized.named_parameters(
        ("moco_resnet18", "cifar10-resnet18", "moco", "temperature", 0.2),
        ("moco_imagenet", "imagenet-resnet50", "moco", "temperature", 0.2),
        ("simclr_resnet18", "cifar10-resnet18", "simclr", "temperature", 0.5),
        ("triplet_quick", "cifar10-quick", "triplet", "mining", "semihard"),
        ("triplet_gpu", "cifar10-resnet18", "triplet", "mining", "semihard"),
    )
    def test_method_options(self, preset, method, key, expected):
        # The method's resolved config: a preset may leave a default as is.
        config = presets.get_preset(preset, method)
        resolved = methods.make_method_config(
            config.method, config.method_options
        )
        self.assertEqual(getattr(resolved, key), expected)
