"""Tests for `ssl_tf.methods.triplet`."""

import types

import numpy as np
from absl.testing import parameterized

from ssl_tf import losses
from ssl_tf.config import ConfigError, ExperimentConfig, TrainConfig
from ssl_tf.methods import triplet
from ssl_tf.testing import TestCase, tiny_encoder


def make_views(n=8, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "view_1": rng.random((n, 8, 8, 3)).astype("float32"),
        "view_2": rng.random((n, 8, 8, 3)).astype("float32"),
    }


def make_triplet(**options):
    config = triplet.TripletConfig(projection_dims=(8, 4), **options)
    return triplet.Triplet(tiny_encoder(), config, seed=0)


class TripletModelTest(TestCase):
    @parameterized.named_parameters(
        ("random", "random"), ("hardest", "hardest"), ("semihard", "semihard")
    )
    def test_loss_and_active_triplets(self, mining):
        model = make_triplet(mining=mining, margin=0.5, concat_views=False)
        batch = make_views()
        loss = model.compute_ssl_loss(batch, training=False)
        anchors = model.projector(model.encoder(batch["view_1"]))
        positives = model.projector(model.encoder(batch["view_2"]))
        per_anchor = losses.triplet_losses(
            anchors, positives, 0.5, mining, seed=0
        ).numpy()
        self.assertAllClose(loss, per_anchor.mean(), atol=1e-5)
        self.assertAllClose(
            model.active_triplets.result(), np.mean(per_anchor > 0)
        )

    def test_concat_views_equals_separate_views_in_inference(self):
        batch = make_views()
        together = make_triplet(concat_views=True)
        apart = make_triplet(concat_views=False)
        self.assertAllClose(
            together.compute_ssl_loss(batch, training=False),
            apart.compute_ssl_loss(batch, training=False),
            atol=1e-5,
        )


class TripletConfigTest(TestCase):
    @parameterized.named_parameters(
        ("margin", {"margin": 3.0}, r"`margin` must be in \[0, 2\]"),
        ("mining", {"mining": "easy"}, "`mining` must be one of"),
        ("dims", {"projection_dims": (0,)}, "`projection_dims` must be"),
    )
    def test_invalid_options(self, options, message):
        config = ExperimentConfig(method="triplet", method_options=options)
        with self.assertRaisesRegex(ConfigError, message):
            config.validate()

    def test_batch_of_one_is_refused(self):
        # TrainConfig already refuses batch 1; the method says why it needs 2.
        experiment = types.SimpleNamespace(train=TrainConfig(batch_size=1))
        with self.assertRaisesRegex(
            ConfigError, "other images of the batch.*batch_size=1"
        ):
            triplet.TripletConfig().validate(experiment)
        ExperimentConfig(
            method="triplet", train=TrainConfig(batch_size=2)
        ).validate()
