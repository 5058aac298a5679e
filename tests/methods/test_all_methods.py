"""Tests every registered method gets: fit, export, reload, replicas."""

import glob
import io
import os
import textwrap
from contextlib import redirect_stdout

import numpy as np
import pytest
import tensorflow as tf
from absl.testing import parameterized

from ssl_tf import cli, methods
from ssl_tf.registry import METHODS
from ssl_tf.testing import (
    TestCase,
    mirrored_strategy,
    smoke_config,
    tiny_images,
)
from ssl_tf.training import checkpoints, run

NAMED_METHODS = [(name, name) for name in methods.list_methods()]


def smoke_arrays(n=32, size=16):
    return tiny_images(n, size), np.arange(n) % 4


class EveryMethodTest(TestCase):
    @parameterized.named_parameters(*NAMED_METHODS)
    def test_two_step_fit_export_reload(self, method):
        result = self.run_method_smoke(method)
        self.assert_recipe_picture_logged(result.run_dir)

    def assert_recipe_picture_logged(self, directory):
        # TensorBoard gets each original beside its views at >= 128 px per
        # cell (16 px smoke images: 8x) and the sampled parameters as text.
        tags = {}
        pattern = os.path.join(directory, "logs", "train", "events*")
        for path in glob.glob(pattern):
            for event in tf.compat.v1.train.summary_iterator(path):
                for value in event.summary.value:
                    tags[value.tag] = value
        picture = tags["augmented_views"].metadata
        self.assertEqual(picture.plugin_data.plugin_name, "images")
        width = int(tags["augmented_views"].tensor.string_val[0])
        self.assertGreaterEqual(width, 2 * 128)
        text = tags["augmentation_parameters"].tensor.string_val[0].decode()
        self.assertIn("| image | view 1", text)

    @parameterized.named_parameters(*NAMED_METHODS)
    def test_checkpoint_restores_every_weight(self, method):
        # Heads, key encoders, queues and BN statistics included: a fresh
        # model restored from the checkpoint equals the trained one.
        tmp = self.get_temp_dir()
        config = smoke_config(tmp, method)
        strategy = tf.distribute.get_strategy()
        models = []
        for _ in range(2):
            model, _ = run.build_model(
                config, strategy, steps_per_epoch=2, num_classes=4
            )
            models.append(model)
        trained, fresh = models
        run_one_step(trained, config, strategy)
        directory = os.path.join(tmp, "checkpoints")
        checkpoints.Checkpointer(directory, trained, trained.optimizer).save(
            1, 0, 1
        )
        run.build_from_batch(fresh, config, strategy)
        fresh.optimizer.build(fresh.trainable_variables)
        checkpoints.Checkpointer(directory, fresh, fresh.optimizer).restore()
        self.assertEqual(len(fresh.weights), len(trained.weights))
        for restored, saved in zip(fresh.weights, trained.weights, strict=True):
            self.assertAllEqual(restored.numpy(), saved.numpy())

    def replica_weights(self, method, augment_in_step=False, **overrides):
        """Weights after one step on 1 device and on 2 mirrored replicas."""
        options = getattr(
            methods.get_method(method), "replica_equivalence_options", {}
        )
        config = smoke_config(
            self.get_temp_dir(), method, **{**options, **overrides}
        )
        results = []
        for strategy in (
            tf.distribute.get_strategy(),
            mirrored_strategy(),
        ):
            model, _ = run.build_model(
                config, strategy, steps_per_epoch=2, num_classes=4
            )
            run_one_step(model, config, strategy, augment_in_step)
            results.append([w.numpy() for w in model.weights])
        return zip(*results, strict=True)

    @pytest.mark.distributed
    @parameterized.named_parameters(*NAMED_METHODS)
    def test_two_replicas_equal_one_device(self, method):
        # One step on MirroredStrategy over 2 logical CPUs must give the
        # same weights as one step on one device with the same global batch.
        # Tolerance: one device normalizes with the fused BN kernel, two
        # replicas with Keras's cross-replica sums (E[x^2] - E[x]^2); that
        # round-off alone moves rotation's one-step weights by up to 2e-5
        # (measured); summed gradients would double every weight's update.
        for one, two in self.replica_weights(method):
            self.assertAllClose(one, two, rtol=1e-4, atol=5e-5)

    @pytest.mark.distributed
    @parameterized.named_parameters(
        # One method per view layer (TwoViews, FourRotations, LabeledView).
        ("simclr", "simclr"),
        ("rotation", "rotation"),
        ("supervised", "supervised"),
    )
    def test_two_replicas_equal_one_device_augmenting_on_device(self, method):
        # With `augment.placement=device` each replica augments its half of
        # the batch in `train_step`; its rows must get the global rows' own
        # crops and colours (not replica 0's), so the weights still match.
        # Tolerance: on these tiny images the cross-replica BN sums' round
        # -off alone moves one-step weights by up to 2e-4 (measured with
        # host placement on the same batch); replicas that copy replica
        # 0's augmentation (`49bf421`) differ by 0.15.
        pairs = self.replica_weights(
            method, augment_in_step=True, **{"augment.placement": "device"}
        )
        for one, two in pairs:
            self.assertAllClose(one, two, rtol=1e-3, atol=1e-3)


def run_one_step(model, config, strategy, augment_in_step=False):
    method_cls = methods.get_method(config.method)
    views = method_cls.views_for(config)
    images, labels = smoke_arrays(config.train.batch_size)
    raw = {"images": images, "labels": labels}
    # Raw uint8 batches only make sense when the model augments them.
    assert (model.views is not None) == augment_in_step
    batch = views(raw, seed=tf.constant([1, 2], tf.int32))
    with strategy.scope():
        model.build_from_batch(batch)
    dataset = tf.data.Dataset.from_tensors(raw if augment_in_step else batch)
    model.fit(dataset, epochs=1, steps_per_epoch=1, verbose=0, shuffle=False)


TOY_METHOD = textwrap.dedent(
    '''
    """A throwaway method: mean squared distance between the two views."""

    import dataclasses

    import keras
    import tensorflow as tf

    from ssl_tf import augment
    from ssl_tf.methods.base import MethodConfig, SSLModel, register_method


    class Distance(keras.losses.Loss):
        def call(self, a, b):
            return tf.reduce_mean(tf.square(a - b), axis=1)


    @dataclasses.dataclass(frozen=True)
    class ToyConfig(MethodConfig):
        scale: float = 1.0


    @register_method("toy_distance", config_cls=ToyConfig)
    class ToyDistance(SSLModel):
        """Toy: pulls two views together (collapses; for tests only)."""

        def __init__(self, encoder, config, **kwargs):
            super().__init__(encoder=encoder, config=config, **kwargs)
            self.ssl_loss = Distance()

        @staticmethod
        def make_views(
            augment_config, image_size, seed=None, method_config=None
        ):
            return augment.TwoViews(
                augment.simclr_recipe(augment_config, image_size, seed)
            )

        def compute_ssl_loss(self, inputs, training):
            a = self.encoder(inputs["view_1"], training=training)
            b = self.encoder(inputs["view_2"], training=training)
            return self.ssl_loss(a, b)
    '''
)


class RegistryTest(TestCase):
    def test_a_new_file_adds_a_method_everywhere(self):
        self.add_module_file(methods, TOY_METHOD, METHODS, "toy_distance")
        self.assertIn("toy_distance", methods.list_methods())
        out = io.StringIO()
        with redirect_stdout(out):
            cli.main(["methods"])
        self.assertIn("toy_distance", out.getvalue())
        # The same smoke test every registered method gets.
        self.run_method_smoke("toy_distance")

    def test_unknown_method_lists_available(self):
        with self.assertRaisesRegex(ValueError, "Available: .*simclr"):
            methods.get_method("simclrr")

    def test_duplicate_registration_is_refused(self):
        with self.assertRaises(KeyError):
            methods.register_method("simclr", methods.MethodConfig)(object)

    def test_parameterized_tests_cover_the_registry(self):
        self.assertEqual([m for m, _ in NAMED_METHODS], methods.list_methods())
