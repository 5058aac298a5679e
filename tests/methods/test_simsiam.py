"""Tests for `ssl_tf.methods.simsiam` and the identity-collapse metric."""

import keras
import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from ssl_tf.config import ConfigError, ExperimentConfig, TrainConfig
from ssl_tf.methods import base, siamese, simsiam
from ssl_tf.testing import TestCase, tiny_encoder


def make_simsiam(seed=0, **options):
    options = {"projection_dims": (8, 8), "predictor_hidden": 2, **options}
    return simsiam.SimSiam(
        tiny_encoder(), simsiam.SimSiamConfig(**options), seed=seed
    )


def make_views(n=8, seed=0):
    views = np.random.default_rng(seed).random((2, n, 8, 8, 3))
    view_1, view_2 = views.astype("float32")
    return {"view_1": view_1, "view_2": view_2}


def unit(x):
    # As `tf.math.l2_normalize`: a zero row stays zero.
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-6)


def numpy_collapse_std(projections):
    return unit(projections).std(axis=0).mean()


class CosineTest(TestCase):
    def test_hand_computed_cosines(self):
        predictions = tf.constant([[1.0, 0.0], [1.0, 0.0], [2.0, 2.0]])
        targets = tf.constant([[3.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
        self.assertAllClose(
            siamese.cosine_to_targets(predictions, targets),
            [1.0, 0.0, 1.0 / np.sqrt(2.0)],
        )

    def test_no_gradient_reaches_the_targets(self):
        predictions = tf.constant([[1.0, 2.0], [0.5, -1.0]])
        targets = tf.constant([[2.0, 1.0], [1.0, 1.0]])
        with tf.GradientTape(persistent=True) as tape:
            tape.watch([predictions, targets])
            cosines = siamese.cosine_to_targets(predictions, targets)
            cosine = tf.reduce_sum(cosines)
        self.assertIsNone(tape.gradient(cosine, targets))
        self.assertIsNotNone(tape.gradient(cosine, predictions))


class LossTest(TestCase):
    def project(self, model, batch):
        z = [
            model.projector(model.encoder(batch[f"view_{i}"], training=False))
            for i in (1, 2)
        ]
        return z, [model.predictor(v) for v in z]

    def test_loss_and_collapse_metric_match_numpy(self):
        model = make_simsiam()
        batch = make_views()
        loss = model.compute_ssl_loss(batch, training=False)
        (z_1, z_2), (p_1, p_2) = (
            [t.numpy() for t in pair] for pair in self.project(model, batch)
        )
        per_image = -0.5 * np.sum(unit(p_1) * unit(z_2), 1) - 0.5 * np.sum(
            unit(p_2) * unit(z_1), 1
        )
        self.assertAllClose(loss, per_image.mean(), atol=1e-6)
        self.assertAllClose(
            model.collapse_tracker.result(),
            numpy_collapse_std(np.concatenate([z_1, z_2])),
        )

    def test_gradient_has_no_path_through_the_stop_gradient(self):
        # The gradient of the model's loss equals that of the same loss
        # whose targets are constants; with a gradient through the targets
        # (no stop-gradient) it differs.
        model = make_simsiam()
        batch = make_views()
        variables = model.trainable_variables

        def gradients(targets_of):
            with tf.GradientTape() as tape:
                (z_1, z_2), (p_1, p_2) = self.project(model, batch)
                t_1, t_2 = targets_of(z_1), targets_of(z_2)
                cosines = [
                    tf.reduce_sum(unit_tf(p) * unit_tf(t), 1)
                    for p, t in ((p_1, t_2), (p_2, t_1))
                ]
                loss = -0.5 * tf.reduce_mean(cosines[0] + cosines[1])
            return tape.gradient(loss, variables)

        with tf.GradientTape() as tape:
            loss = model.compute_ssl_loss(batch, training=False)
        model_gradients = tape.gradient(loss, variables)
        constant = gradients(lambda z: tf.constant(z.numpy()))
        through = gradients(lambda z: z)
        for got, want in zip(model_gradients, constant, strict=True):
            self.assertAllClose(got, want, atol=1e-6)
        differs = [
            not np.allclose(got, other, atol=1e-6)
            for got, other in zip(model_gradients, through, strict=True)
        ]
        self.assertTrue(any(differs))


def unit_tf(x):
    return tf.math.l2_normalize(x, axis=1)


class CollapseMetricTest(TestCase):
    @parameterized.named_parameters(("d16", 16), ("d64", 64))
    def test_healthy_random_batch_gives_one_over_sqrt_d(self, dims):
        rows = np.random.default_rng(dims).normal(size=(512, dims))
        rows = rows.astype("float32")
        value = float(base.collapse_std(rows))
        self.assertAllClose(value, numpy_collapse_std(rows), atol=1e-6)
        # Unit vectors spread over the sphere: std 1/sqrt(d) per dimension.
        self.assertAllClose(value, 1.0 / np.sqrt(dims), rtol=0.05)

    def test_one_vector_for_every_image_gives_zero(self):
        rows = np.tile([[0.3, -1.0, 2.0, 0.5]], (8, 1)).astype("float32")
        self.assertAllClose(base.collapse_std(rows), 0.0, atol=1e-7)

    def test_broken_encoder_drops_the_logged_metric_to_zero(self):
        # An encoder whose features are constant (a zero conv kernel) maps
        # every image to one projection: the metric SimSiam logs in
        # training drops from the healthy NumPy value to 0.
        batch = make_views(n=16)
        both = np.concatenate([batch["view_1"], batch["view_2"]])
        values = []
        for broken in (False, True):
            model = make_simsiam()
            if broken:
                kernel = model.encoder.trainable_weights[0]
                kernel.assign(np.zeros(kernel.shape, "float32"))
            model.compute_ssl_loss(batch, training=True)
            values.append(float(model.collapse_tracker.result()))
            # Both views in one batch (`concat_views`), as in training.
            z = model.projector(
                model.encoder(both, training=True), training=True
            )
            self.assertAllClose(values[-1], numpy_collapse_std(z.numpy()))
        healthy, collapsed = values
        self.assertGreater(healthy, 0.5 / np.sqrt(8))
        self.assertAllClose(collapsed, 0.0, atol=1e-6)

    def test_identity_predictor_collapses_and_the_metric_drops(self):
        # SimSiam's own ablation (Chen & He, 2021, Table 1): without a
        # predictor the two branches agree trivially (loss -1) and the
        # embedding collapses. Trained 75 steps on one batch of noisy view
        # pairs, the logged metric stays at the healthy model's level with
        # a predictor and falls every epoch without one (measured: 0.345
        # vs 0.318, 0.285, 0.279; 1/sqrt(8) = 0.354; other seeds fall less
        # far, to 0.94 and 0.85 of the healthy value).
        rng = np.random.default_rng(0)
        images = rng.random((32, 8, 8, 3)).astype("float32")
        batch = {
            f"view_{i}": images
            + rng.normal(0, 0.5, images.shape).astype("float32")
            for i in (1, 2)
        }
        history = {}
        for broken in (False, True):
            model = make_simsiam()
            if broken:
                model.predictor = keras.layers.Identity()
            model.compile(optimizer=keras.optimizers.SGD(0.5, momentum=0.9))
            model.build_from_batch(batch)
            fit = model.fit(
                tf.data.Dataset.from_tensors(batch).repeat(),
                epochs=3,
                steps_per_epoch=25,
                verbose=0,
            )
            history[broken] = fit.history
        healthy, collapsed = history[False], history[True]
        self.assertGreater(healthy["collapse_std"][-1], 0.95 / np.sqrt(8))
        self.assertGreater(healthy["loss"][-1], -0.5)
        self.assertLess(collapsed["loss"][-1], -0.99)
        self.assertLess(
            collapsed["collapse_std"][-1], 0.9 * healthy["collapse_std"][-1]
        )
        self.assertLess(
            collapsed["collapse_std"][-1], collapsed["collapse_std"][0]
        )

    def test_train_step_logs_the_metric(self):
        model = make_simsiam()
        model.compile(optimizer=keras.optimizers.SGD(0.1))
        batch = make_views()
        model.build_from_batch(batch)
        history = model.fit(
            tf.data.Dataset.from_tensors(batch), verbose=0, shuffle=False
        )
        self.assertIn("collapse_std", history.history)
        self.assertGreater(history.history["collapse_std"][0], 0.0)


class ConfigTest(TestCase):
    @parameterized.named_parameters(
        ("predictor", {"predictor_hidden": 0}, "`predictor_hidden` must"),
        ("projection", {"projection_dims": (4, 0)}, "`projection_dims` must"),
    )
    def test_bad_options_are_refused(self, options, message):
        experiment = ExperimentConfig(
            method="simsiam", train=TrainConfig(batch_size=8)
        )
        with self.assertRaisesRegex(ConfigError, message):
            simsiam.SimSiamConfig(**options).validate(experiment)

    def test_batch_of_one_is_refused(self):
        experiment = ExperimentConfig(
            method="simsiam", train=TrainConfig(batch_size=1)
        )
        with self.assertRaisesRegex(ConfigError, "batch_size` >= 2"):
            simsiam.SimSiamConfig().validate(experiment)
