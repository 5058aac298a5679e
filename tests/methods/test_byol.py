"""Tests for `ssl_tf.methods.byol`: EMA target, gradients, loss, resume."""

import dataclasses
import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from absl.testing import parameterized

from ssl_tf.config import ConfigError, ExperimentConfig, TrainConfig
from ssl_tf.methods import byol, siamese
from ssl_tf.testing import TestCase, smoke_config, tiny_encoder, tiny_images
from ssl_tf.training import run, schedules


def make_byol(seed=0, **options):
    config = byol.BYOLConfig(projection_dims=(8, 4), predictor_hidden=6)
    config = dataclasses.replace(config, **options)
    return byol.BYOL(tiny_encoder(), config, seed=seed)


def make_views(n=8):
    images = tiny_images(2 * n, 8).astype("float32") / 255.0
    return {"view_1": images[:n], "view_2": images[n:]}


def trainable_pairs(model):
    return [(o, t) for o, t in model._weight_pairs() if o.trainable]


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


class OnlineWeights(keras.callbacks.Callback):
    """The online weights after every step (the EMA's inputs)."""

    def __init__(self, model):
        super().__init__()
        self.pairs = trainable_pairs(model)
        self.after_step = []

    def on_train_batch_end(self, batch, logs=None):
        self.after_step.append([o.numpy() for o, _ in self.pairs])


class TargetTest(TestCase):
    def test_target_starts_as_a_frozen_copy(self):
        model = make_byol()
        for online, target in model._weight_pairs():
            self.assertAllEqual(online.numpy(), target.numpy())
            self.assertFalse(target.trainable)
        targets = {id(t) for _, t in model._weight_pairs()}
        trainable = {id(v) for v in model.trainable_variables}
        self.assertFalse(targets & trainable)
        # Online encoder + projector + predictor are what trains.
        online = (
            model.encoder.trainable_weights
            + model.projector.trainable_weights
            + model.predictor.trainable_weights
        )
        self.assertEqual(trainable, {id(v) for v in online})

    def test_target_is_numpy_ema_with_hand_computed_tau(self):
        steps, total, tau_base = 3, 4, 0.9
        model = make_byol(momentum=tau_base, total_steps=total)
        model.compile(optimizer=keras.optimizers.SGD(0.5))
        batch = make_views()
        model.build_from_batch(batch)
        initial = [t.numpy() for _, t in trainable_pairs(model)]
        expected = initial
        recorder = OnlineWeights(model)
        model.fit(
            tf.data.Dataset.from_tensors(batch).repeat(),
            steps_per_epoch=steps,
            callbacks=[recorder],
            verbose=0,
            shuffle=False,
        )
        for k, online in enumerate(recorder.after_step, start=1):
            tau = 1 - (1 - tau_base) * (math.cos(math.pi * k / total) + 1) / 2
            expected = [
                tau * t + (1 - tau) * o
                for t, o in zip(expected, online, strict=True)
            ]
        self.assertLen(recorder.after_step, steps)
        changed = 0
        pairs = zip(trainable_pairs(model), expected, initial, strict=True)
        for (_, target), value, start in pairs:
            self.assertAllClose(target.numpy(), value, atol=1e-6)
            changed += not np.allclose(value, start)
        self.assertGreater(changed, 0)
        # The logged momentum is the mean of the three taus.
        taus = [
            1 - 0.1 * (math.cos(math.pi * k / total) + 1) / 2 for k in (1, 2, 3)
        ]
        self.assertAllClose(model.momentum_tracker.result(), np.mean(taus))

    def test_schedule_length_defaults_to_the_learning_rate_schedule(self):
        model = make_byol(momentum=0.9)  # total_steps=None
        schedule = schedules.WarmupCosine(0.1, total_steps=10)
        model.compile(optimizer=keras.optimizers.SGD(schedule))
        for step, value in {0: 0.9, 5: 0.95, 10: 1.0, 20: 1.0}.items():
            model.optimizer.iterations.assign(step)
            self.assertAllClose(model.current_momentum(), value, atol=1e-6)

    def test_cosine_without_any_length_is_refused(self):
        model = make_byol()
        model.compile(optimizer=keras.optimizers.SGD(0.1))
        with self.assertRaisesRegex(ValueError, "needs `total_steps`"):
            model.current_momentum()

    def test_target_gets_no_gradient(self):
        model = make_byol()
        with tf.GradientTape() as tape:
            loss = model.compute_ssl_loss(make_views(), training=True)
        targets = [t for _, t in model._weight_pairs()]
        online = list(model.trainable_variables)
        gradients = tape.gradient(loss, targets + online)
        # None exactly for every target weight, a gradient for the rest.
        self.assertEqual(
            [g is None for g in gradients],
            [True] * len(targets) + [False] * len(online),
        )


class LossTest(TestCase):
    def test_loss_and_collapse_metric_match_numpy(self):
        model = make_byol()
        rng = np.random.default_rng(1)
        # A target that differs from the online network.
        for _, target in trainable_pairs(model):
            target.assign(rng.normal(size=target.shape).astype("float32"))
        batch = make_views()
        loss = model.compute_ssl_loss(batch, training=False)
        z, p, t = {}, {}, {}
        for i in (1, 2):
            z[i] = model.projector(model.encoder(batch[f"view_{i}"])).numpy()
            p[i] = model.predictor(z[i]).numpy()
            t[i] = model.target_projector(
                model.target_encoder(batch[f"view_{i}"])
            ).numpy()
        per_image = (2 - 2 * np.sum(unit(p[1]) * unit(t[2]), 1)) + (
            2 - 2 * np.sum(unit(p[2]) * unit(t[1]), 1)
        )
        self.assertAllClose(loss, per_image.mean(), atol=1e-5)
        units = unit(np.concatenate([z[1], z[2]]))
        self.assertAllClose(
            model.collapse_tracker.result(), units.std(axis=0).mean()
        )

    def test_identical_prediction_and_target_give_zero_loss(self):
        # 2 - 2 cos(x, x) = 0 for each order.
        x = tf.constant([[1.0, 2.0, 0.5], [-1.0, 0.0, 3.0]])
        cosine = siamese.symmetric_cosine(x, -x, -2.0 * x, 3.0 * x)
        self.assertAllClose(4.0 - 2.0 * cosine, [0.0, 0.0], atol=1e-6)


class ConfigTest(TestCase):
    @parameterized.named_parameters(
        ("momentum", {"momentum": 1.5}, r"`momentum` must be in \[0, 1\]"),
        ("schedule", {"momentum_schedule": "step"}, "momentum_schedule"),
        ("total_steps", {"total_steps": 0}, "`total_steps` must be"),
        ("predictor", {"predictor_hidden": 0}, "`predictor_hidden` must"),
        ("projection", {"projection_dims": ()}, "`projection_dims` must"),
    )
    def test_bad_options_are_refused(self, options, message):
        experiment = ExperimentConfig(
            method="byol", train=TrainConfig(batch_size=8)
        )
        with self.assertRaisesRegex(ConfigError, message):
            byol.BYOLConfig(**options).validate(experiment)


class ResumeTest(TestCase):
    @pytest.mark.large
    def test_crash_then_rerun_matches_uninterrupted_with_target(self):
        # The target and its cosine schedule (K from the learning-rate
        # schedule, k from the restored optimizer step) resume exactly.
        tmp = self.get_temp_dir()
        arrays = (tiny_images(32), None)
        options = {
            "train.epochs": "2",
            "train.steps_per_epoch": "2",
            "train.checkpoint_every_steps": "1",
        }
        config = smoke_config(tmp, "byol", name="crashed", **options)
        crash = [crash_after_batches(3)]
        with self.assertRaises(Crash):
            run.pretrain(config, arrays=arrays, extra_callbacks=crash)
        resumed = run.pretrain(config, arrays=arrays, verbose=0)
        uninterrupted = dataclasses.replace(config, name="full")
        full = run.pretrain(uninterrupted, arrays=arrays, verbose=0)
        self.assertEqual(resumed.resumed_from, (1, 1))
        model = resumed.model
        targets = [t for _, t in model._weight_pairs()]
        self.assertNotAllClose(targets[0], model.encoder.weights[0])
        for a, b in zip(full.model.weights, model.weights, strict=True):
            self.assertAllClose(a, b, rtol=1e-5, atol=1e-6)


class Crash(Exception):
    pass


def crash_after_batches(count):
    """Raises `Crash` at the end of the `count`-th batch of a fresh run."""
    ends = []

    def on_train_batch_end(batch, logs=None):
        ends.append(batch)
        if len(ends) == count:
            raise Crash(f"simulated crash after batch {count}")

    return keras.callbacks.LambdaCallback(on_train_batch_end=on_train_batch_end)
