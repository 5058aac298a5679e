"""Continued pretraining from an exported encoder (`encoder.init_from`)."""

import dataclasses
import json
import os
import shutil
import tempfile

import keras
import numpy as np
import pytest
from absl.testing import parameterized

from ssl_tf import export, models
from ssl_tf.config import ConfigError
from ssl_tf.testing import (
    TestCase,
    error_lines,
    mirrored_strategy,
    run_cli,
    smoke_config,
    smoke_pretrain_argv,
    tiny_images,
)
from ssl_tf.training import drift, plan, run

ARRAYS = (tiny_images(32), None)


class BeforeFirstStep(keras.callbacks.Callback):
    """Copies the encoder's weights and the step count before step one."""

    def __init__(self):
        super().__init__()
        self.weights = None

    def on_train_batch_begin(self, batch, logs=None):
        if self.weights is not None:
            return
        self.iterations = int(self.model.optimizer.iterations.numpy())
        self.weights = {"encoder": weights(self.model.encoder)}


def warm_export(directory, config, seed=7):
    """Exports `config`'s encoder with weights no random init gives.

    Every weight moves by noise, the BatchNorm statistics too (variances
    kept positive), so a test sees whether all of them were taken.
    """
    encoder = models.build_encoder(
        config.encoder, config.data.image_size, seed=seed
    )
    rng = np.random.default_rng(seed)
    values = []
    for weight in encoder.weights:
        value = weight.numpy() + rng.normal(0, 0.1, weight.shape)
        if weight.path.endswith("moving_variance"):
            value = np.abs(value)
        values.append(value.astype(np.float32))
    encoder.set_weights(values)
    export.export_experiment(encoder, config, directory)
    return values


def first_step(config):
    """`BeforeFirstStep` of a 2-step `pretrain` of `config`."""
    callback = BeforeFirstStep()
    run.pretrain(
        config,
        arrays=ARRAYS,
        extra_callbacks=[callback],
        do_export=False,
        verbose=0,
    )
    return callback


def build(config):
    """The `State` of `config`'s run as `pretrain` builds it, unfitted."""
    return run.restore_or_build(plan.prepare(config, ARRAYS))


def weights(layer):
    return [w.numpy() for w in layer.weights]


def keras_file(directory, config, **encoder_changes):
    """Saves a random encoder of `config` changed as given; its path."""
    encoder_config = dataclasses.replace(config.encoder, **encoder_changes)
    path = os.path.join(directory, "encoder.keras")
    os.makedirs(directory, exist_ok=True)
    models.build_encoder(encoder_config, 16, seed=0).save(path)
    return path


class InitFromTest(TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # One export for the class: exporting takes seconds.
        root = cls.enterClassContext(tempfile.TemporaryDirectory())
        cls.export_path = os.path.join(root, "general")
        cls.export_weights = warm_export(cls.export_path, smoke_config(root))

    def assert_weights_equal(self, got, want):
        self.assertEqual(len(got), len(want))
        for one, two in zip(got, want, strict=True):
            self.assertAllEqual(one, two)

    def test_fit_first_step_sees_the_export(self):
        tmp = self.get_temp_dir()
        config = smoke_config(tmp, **{"encoder.init_from": self.export_path})
        callback = first_step(config)
        self.assertEqual(callback.iterations, 0)
        self.assert_weights_equal(
            callback.weights["encoder"], self.export_weights
        )

    @parameterized.named_parameters(
        ("simclr_export_directory", "simclr", ""),
        ("moco_export_directory", "moco", ""),
        ("moco_keras_file", "moco", "encoder.keras"),
    )
    def test_built_model_starts_from_the_export(self, method, file):
        tmp = self.get_temp_dir()
        path = os.path.join(self.export_path, file)
        config = smoke_config(tmp, method, **{"encoder.init_from": path})
        state = build(config)
        model = state.model
        self.assertEqual(int(state.optimizer.iterations.numpy()), 0)
        self.assert_weights_equal(weights(model.encoder), self.export_weights)
        if method == "moco":
            # The key encoder is cloned from the warm encoder.
            self.assert_weights_equal(
                weights(model.key_encoder), self.export_weights
            )
        # The heads are the seeded random init of a run without init_from.
        random_config = smoke_config(tmp, method, name="random")
        random_model = build(random_config).model
        self.assert_weights_equal(
            weights(model.projector), weights(random_model.projector)
        )
        # ... whose encoder is not the export, so the checks can fail.
        self.assertNotAllClose(
            random_model.encoder.weights[0].numpy(), self.export_weights[0]
        )

    @pytest.mark.large  # about 2 minutes on 2 shared CPU cores
    @pytest.mark.distributed
    def test_two_replicas_equal_one_device(self):
        # A 2-step run from the export on MirroredStrategy over 2 logical
        # CPUs ends with the weights of the same run on one device.
        tmp = self.get_temp_dir()
        results = []
        for strategy in (None, mirrored_strategy()):
            replicas = strategy.num_replicas_in_sync if strategy else 1
            config = smoke_config(
                tmp,
                name=f"replicas{replicas}",
                **{"encoder.init_from": self.export_path},
            )
            run_plan = plan.prepare(config, ARRAYS)
            if strategy is not None:
                run_plan = dataclasses.replace(run_plan, strategy=strategy)
            state = run.restore_or_build(run_plan)
            # Every replica's copy of every encoder weight is the export's.
            for weight, value in zip(
                state.model.encoder.weights, self.export_weights, strict=True
            ):
                copies = run_plan.strategy.experimental_local_results(
                    weight.value
                )
                self.assertLen(copies, replicas)
                for copy in copies:
                    self.assertAllEqual(copy.numpy(), value)
            run.fit_resumable(run_plan, state, verbose=0)
            results.append(weights(state.model))
        # Tolerance as the every-method 2-replica test's (cross-replica BN
        # sums round differently from the fused one-device kernel).
        for one, two in zip(*results, strict=True):
            self.assertAllClose(one, two, rtol=1e-4, atol=5e-5)
        # The steps moved the encoder, so the comparison is not vacuous.
        self.assertNotAllClose(results[0][0], self.export_weights[0])

    def prepare_fails(self, path, **overrides):
        """`prepare`'s error for `encoder.init_from=path`, before data."""
        tmp = self.get_temp_dir()
        config = smoke_config(
            tmp,
            **{
                # A folder that does not exist: reading the data would
                # raise a DataError, so a ConfigError came first.
                "data.source": "folder",
                "data.name": os.path.join(tmp, "no_such_folder"),
                "encoder.init_from": path,
                **overrides,
            },
        )
        with self.assertRaises(ConfigError) as raised:
            plan.prepare(config)
        self.assertFalse(os.path.exists(os.path.join(tmp, "runs")))
        return str(raised.exception)

    def test_wider_encoder_fails_naming_the_first_weight(self):
        directory = os.path.join(self.get_temp_dir(), "wide")
        keras_file(directory, smoke_config(directory), width=0.25)
        # An export's metadata names the encoder it was trained with.
        with open(os.path.join(directory, "export.json"), "w") as handle:
            json.dump({"config": {"encoder": {"name": "resnet18"}}}, handle)
        message = self.prepare_fails(directory)
        # Width 1/8 of 64 is 8 stem filters here, 1/4 is 16 there.
        self.assertIn(
            "the first weight that differs is number 0: stem_conv/kernel has "
            "shape (3, 3, 3, 8) in this run's encoder, the export's "
            "stem_conv/kernel has shape (3, 3, 3, 16).",
            message,
        )
        self.assertIn(
            "(encoder.name='resnet18', encoder.stem='cifar', "
            "encoder.width=0.125)",
            message,
        )
        self.assertIn(
            "The export was trained with encoder.name='resnet18', "
            "encoder.stem=None, encoder.width=None.",
            message,
        )

    def test_deeper_encoder_fails_naming_the_first_layer(self):
        directory = self.get_temp_dir()
        path = keras_file(directory, smoke_config(directory), name="resnet34")
        # Both start with the stem (5 weights: a conv, BN's four) and two
        # 10-weight blocks in stage 1; ResNet-34 has a third there, where
        # ResNet-18 goes on to stage 2 (weight 25, twice the channels).
        self.assertIn(
            "number 25: stage2_block1_1_conv/kernel has shape (3, 3, 8, 16) "
            "in this run's encoder, the export's "
            "stage1_block3_1_conv/kernel has shape (3, 3, 8, 8).",
            self.prepare_fails(path),
        )

    def test_shorter_encoder_names_the_missing_weight(self):
        # A one-conv encoder that fits the stem's first weight only.
        inputs = keras.Input((None, None, 3))
        conv = keras.layers.Conv2D(8, 3, use_bias=False, name="only")(inputs)
        path = os.path.join(self.get_temp_dir(), "short.keras")
        keras.Model(inputs, conv).save(path)
        self.assertIn(
            "weight 1 stem_bn/gamma (8,) of this run's encoder has no "
            "counterpart: the export has only 1 weights",
            self.prepare_fails(path),
        )

    @parameterized.named_parameters(
        ("missing", "missing", "does not exist"),
        ("directory_without_keras_file", "", "without encoder.keras"),
        ("not_a_keras_file", "export.json", "must be an export directory"),
        ("own_export", "own", "this run's own export directory"),
    )
    def test_bad_path_fails_before_data(self, name, expected):
        tmp = self.get_temp_dir()
        paths = {
            "missing": os.path.join(tmp, "nothing_here"),
            "": tmp,
            "export.json": os.path.join(self.export_path, "export.json"),
            "own": os.path.join(tmp, "saved", "smoke"),
        }
        if name == "own":
            shutil.copytree(self.export_path, paths["own"])
        self.assertIn(expected, self.prepare_fails(paths[name]))

    def test_command_line_key(self):
        tmp = self.get_temp_dir()
        missing = os.path.join(tmp, "nothing_here")
        argv = smoke_pretrain_argv(
            tmp,
            "data.source=folder",
            f"data.name={tmp}/no_such_folder",
            f"encoder.init_from={missing}",
        )
        code, _, stderr = run_cli(argv)
        self.assertNotEqual(code, 0)
        self.assertEqual(
            error_lines(stderr),
            [
                f"error: `encoder.init_from` {missing!r} does not exist. It "
                "must be an export directory (as `ssl-tf pretrain` and "
                "`ssl-tf export` write) or a `.keras` encoder file."
            ],
        )

    def copy_of_export(self, name):
        path = os.path.join(self.get_temp_dir(), name)
        shutil.copytree(self.export_path, path)
        return path

    def checkpointed_run(self, tmp, path):
        """A run of `init_from=path` with a checkpoint after epoch 1.

        Returns its config and the encoder weights the checkpoint holds:
        the export's plus 1, a stand-in for an epoch of training.
        """
        config = smoke_config(tmp, **{"encoder.init_from": path})
        state = build(config)
        trained = [value + 1.0 for value in weights(state.model.encoder)]
        state.model.encoder.set_weights(trained)
        state.checkpointer.save(1, 0, 2)
        return config, trained

    def test_resume_takes_the_checkpoint_not_the_export(self):
        tmp = self.get_temp_dir()
        path = self.copy_of_export("copy")
        config, trained = self.checkpointed_run(tmp, path)
        # The checkpoint holds the export's effect: a resumed run neither
        # reads nor needs it.
        shutil.rmtree(path)
        longer = dataclasses.replace(
            config, train=dataclasses.replace(config.train, epochs=2)
        )
        resumed = build(longer)
        self.assertEqual(resumed.resumed_from, (1, 0))
        self.assert_weights_equal(weights(resumed.model.encoder), trained)

    def test_changed_init_from_on_resume_is_refused(self):
        tmp = self.get_temp_dir()
        path = self.copy_of_export("first")
        self.checkpointed_run(tmp, path)
        # Other spellings of the same encoder are the same run.
        same = os.path.join(path, "..", "first")
        for spelling in (same, os.path.join(same, "encoder.keras")):
            plan.prepare(
                smoke_config(tmp, **{"encoder.init_from": spelling}), ARRAYS
            )
        other = self.copy_of_export("second")
        changed = smoke_config(tmp, **{"encoder.init_from": other})
        with self.assertRaisesRegex(
            ConfigError,
            f'encoder.init_from: "{os.path.realpath(path)}" -> '
            f'"{os.path.realpath(other)}"',
        ):
            plan.prepare(changed, ARRAYS)

    def test_init_from_added_to_an_older_run_is_refused(self):
        # Records written before `encoder.init_from` existed lack the key:
        # those runs started from a random init.
        refused, _ = drift.compare({}, {"encoder.init_from": "/x"}, (1, 0))
        self.assertEqual(refused, ['encoder.init_from: null -> "/x"'])
