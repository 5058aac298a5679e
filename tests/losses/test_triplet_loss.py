"""Tests for `ssl_tf.losses.triplet`."""

import numpy as np
import pytest
import tensorflow as tf
from absl.testing import parameterized

from ssl_tf import losses
from ssl_tf.testing import TestCase, mirrored_strategy


def _normalize(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def numpy_triplet(anchors, positives, margin, mining, random_columns=None):
    """Independent reference, one anchor at a time."""
    a, p = _normalize(anchors), _normalize(positives)
    out = []
    for i in range(len(a)):
        sims = p @ a[i]
        positive = sims[i]
        negatives = np.delete(sims, i)
        if mining == "hardest":
            negative = negatives.max()
        elif mining == "semihard":
            easier = negatives[negatives < positive]
            negative = easier.max() if len(easier) else negatives.min()
        else:
            negative = sims[random_columns[i]]
        out.append(max(0.0, margin - positive + negative))
    return np.array(out)


def _random(seed, shape):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _at_cosine(values):
    # Unit vectors in 2-D whose cosine with (1, 0) is each of `values`.
    values = np.asarray(values, "float32")
    return np.stack([values, np.sqrt(1 - values**2)], axis=1)


class TripletLossTest(TestCase):
    @parameterized.named_parameters(
        ("random", "random"), ("hardest", "hardest"), ("semihard", "semihard")
    )
    def test_matches_numpy_reference(self, mining):
        anchors, positives = _random(0, (9, 5)), _random(1, (9, 5))
        columns = losses.random_negative_indices(9, seed=3).numpy()
        expected = numpy_triplet(anchors, positives, 0.3, mining, columns)
        loss = losses.TripletLoss(margin=0.3, mining=mining, seed=3)
        self.assertAllClose(loss.call(anchors, positives), expected, atol=1e-5)
        self.assertAllClose(
            loss(anchors, positives), expected.mean(), atol=1e-5
        )

    def test_semihard_with_easy_negatives_everywhere(self):
        # Near-aligned pairs make every negative easier than the positive,
        # so semihard picks the hardest of them, like "hardest".
        anchors = _random(2, (6, 8))
        positives = anchors + 0.01 * _random(3, (6, 8))
        semihard = losses.triplet_losses(anchors, positives, 2.0, "semihard")
        hardest = losses.triplet_losses(anchors, positives, 2.0, "hardest")
        self.assertAllClose(semihard, hardest)

    def test_hand_case(self):
        # Anchor 0 = (1, 0); positives at cosines 0.8 (its own), 0.9, 0.7
        # and 0.1. Margin 0.2:
        #   hardest:  max(0, 0.2 - 0.8 + 0.9) = 0.3
        #   semihard: the most similar negative below 0.8 is 0.7 -> 0.1
        positives = _at_cosine([0.8, 0.9, 0.7, 0.1])
        anchors = np.concatenate([[[1.0, 0.0]], positives[1:]]).astype(
            "float32"
        )
        hardest = losses.triplet_losses(anchors, positives, 0.2, "hardest")
        semihard = losses.triplet_losses(anchors, positives, 0.2, "semihard")
        self.assertAllClose(hardest[0], 0.3, atol=1e-6)
        self.assertAllClose(semihard[0], 0.1, atol=1e-6)

    def test_semihard_falls_back_to_the_easiest_negative(self):
        # Positive at cosine 0.1, negatives at 0.9, 0.7, 0.8: all harder
        # than the positive, so the least similar (0.7) is used:
        # 0.2 - 0.1 + 0.7 = 0.8.
        positives = _at_cosine([0.1, 0.9, 0.7, 0.8])
        anchors = np.concatenate([[[1.0, 0.0]], positives[1:]]).astype(
            "float32"
        )
        semihard = losses.triplet_losses(anchors, positives, 0.2, "semihard")
        self.assertAllClose(semihard[0], 0.8, atol=1e-6)

    def test_two_images_random_uses_the_other_one(self):
        anchors, positives = _random(4, (2, 3)), _random(5, (2, 3))
        a, p = _normalize(anchors), _normalize(positives)
        expected = [
            max(0.0, 0.5 - a[0] @ p[0] + a[0] @ p[1]),
            max(0.0, 0.5 - a[1] @ p[1] + a[1] @ p[0]),
        ]
        got = losses.triplet_losses(anchors, positives, 0.5, "random")
        self.assertAllClose(got, expected, atol=1e-6)

    def test_orthonormal_views_give_zero_loss_up_to_the_margin(self):
        # a_i = p_i = e_i: sim(a, p) = 1, sim(a, n) = 0 for every mining, so
        # loss = max(0, m - 1).
        eye = np.eye(4, dtype="float32")
        for mining in losses.triplet.MINING:
            self.assertAllClose(losses.TripletLoss(0.2, mining)(eye, eye), 0.0)
            self.assertAllClose(losses.TripletLoss(1.5, mining)(eye, eye), 0.5)

    def test_random_indices_are_others_and_deterministic(self):
        for seed in range(20):
            columns = losses.random_negative_indices(7, seed).numpy()
            self.assertTrue(np.all(columns != np.arange(7)))
            self.assertTrue(np.all((columns >= 0) & (columns < 7)))
            self.assertAllEqual(
                losses.random_negative_indices(7, seed), columns
            )
        # Over many seeds every other index is picked.
        picks = [losses.random_negative_indices(5, s)[0] for s in range(200)]
        self.assertEqual(sorted(set(np.asarray(picks).tolist())), [1, 2, 3, 4])

    def test_gradients_reach_anchor_positive_and_negative(self):
        anchors = tf.constant(_random(6, (4, 3)))
        positives = tf.constant(_random(7, (4, 3)))
        with tf.GradientTape() as tape:
            tape.watch([anchors, positives])
            loss = losses.TripletLoss(2.0, "hardest")(anchors, positives)
        grad_a, grad_p = tape.gradient(loss, [anchors, positives])
        self.assertGreater(float(tf.reduce_sum(tf.abs(grad_a))), 0.0)
        self.assertGreater(float(tf.reduce_sum(tf.abs(grad_p))), 0.0)

    def test_invalid_arguments(self):
        with self.assertRaisesRegex(ValueError, "`mining` must be one of"):
            losses.TripletLoss(mining="easy")
        with self.assertRaisesRegex(ValueError, "`margin` must be >= 0"):
            losses.TripletLoss(margin=-0.1)

    def test_config_round_trip(self):
        loss = losses.TripletLoss(0.4, "random", seed=5)
        config = losses.TripletLoss.from_config(loss.get_config()).get_config()
        self.assertEqual(
            (config["margin"], config["mining"], config["seed"]),
            (0.4, "random", 5),
        )

    @pytest.mark.distributed
    @parameterized.named_parameters(
        ("random", "random"), ("hardest", "hardest"), ("semihard", "semihard")
    )
    def test_two_replicas_sum_to_single_device_loss(self, mining):
        # Negatives are gathered from both replicas, so the per-anchor
        # losses, and their mean, equal those of one device.
        anchors, positives = _random(8, (8, 4)), _random(9, (8, 4))
        loss = losses.TripletLoss(0.5, mining, seed=1)
        single = loss(anchors, positives)
        strategy = mirrored_strategy()
        dataset = tf.data.Dataset.from_tensors((anchors, positives))
        inputs = next(iter(strategy.experimental_distribute_dataset(dataset)))
        per_replica = strategy.run(loss, args=inputs)
        total = strategy.reduce("SUM", per_replica, axis=None)
        self.assertAllClose(total, single, atol=1e-5)
