"""Tests for `ssl_tf.losses.info_nce`."""

import numpy as np
import pytest
import tensorflow as tf

from ssl_tf import losses
from ssl_tf.testing import TestCase, mirrored_strategy


def _normalize(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def numpy_info_nce(queries, keys, negatives, temperature):
    q, k, n = _normalize(queries), _normalize(keys), _normalize(negatives)
    logits = (
        np.concatenate([np.sum(q * k, axis=1, keepdims=True), q @ n.T], axis=1)
        / temperature
    )
    logits -= logits.max(axis=1, keepdims=True)
    log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return -log_softmax[:, 0]


def _random(seed, shape):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


class InfoNCETest(TestCase):
    def test_matches_numpy_reference(self):
        queries, keys = _random(0, (5, 4)), _random(1, (5, 4))
        negatives = _random(2, (7, 4))
        loss = losses.InfoNCE(temperature=0.3)
        expected = numpy_info_nce(queries, keys, negatives, 0.3)
        self.assertAllClose(
            loss.call(queries, (keys, negatives)), expected, atol=1e-5
        )
        self.assertAllClose(
            loss(queries, (keys, negatives)), expected.mean(), atol=1e-5
        )

    def test_orthonormal_closed_form(self):
        # q_i = k_i = e_i and K negatives orthogonal to every query: the
        # positive logit is 1/T and every negative logit is 0, so
        # loss = -log(e^(1/T) / (e^(1/T) + K)) = log(1 + K e^(-1/T)).
        temperature, num_negatives = 0.2, 4
        eye = np.eye(6, dtype="float32")
        queries, negatives = eye[:2], eye[2:]
        loss = losses.InfoNCE(temperature)(queries, (queries, negatives))
        expected = np.log1p(num_negatives * np.exp(-1 / temperature))
        self.assertAllClose(loss, expected, atol=1e-6)

    def test_negative_equal_to_query(self):
        # One negative equals the positive: softmax splits evenly, log 2.
        eye = np.eye(3, dtype="float32")
        loss = losses.InfoNCE(0.5)(eye[:1], (eye[:1], eye[:1]))
        self.assertAllClose(loss, np.log(2.0), atol=1e-6)

    def test_logits_and_labels(self):
        queries, keys = _random(3, (3, 4)), _random(4, (3, 4))
        negatives = _random(5, (6, 4))
        logits, labels = losses.info_nce_logits(queries, keys, negatives, 0.1)
        self.assertEqual(tuple(logits.shape), (3, 7))
        self.assertAllEqual(labels, np.zeros(3))
        q, k = _normalize(queries), _normalize(keys)
        self.assertAllClose(logits[:, 0], np.sum(q * k, axis=1) / 0.1)

    def test_per_query_loss_comes_with_its_logits(self):
        queries, keys = _random(3, (3, 4)), _random(4, (3, 4))
        negatives = _random(5, (6, 4))
        per_query, logits, labels = losses.info_nce(
            queries, keys, negatives, 0.1
        )
        expected, _ = losses.info_nce_logits(queries, keys, negatives, 0.1)
        self.assertAllClose(logits, expected)
        log_z = np.log(np.exp(logits.numpy()).sum(axis=1))
        self.assertAllClose(per_query, log_z - logits.numpy()[:, 0])
        self.assertAllEqual(labels, [0, 0, 0])

    def test_invalid_temperature(self):
        with self.assertRaisesRegex(
            ValueError, "`temperature` must be positive"
        ):
            losses.InfoNCE(temperature=0.0)

    def test_config_round_trip(self):
        loss = losses.InfoNCE(temperature=0.7)
        rebuilt = losses.InfoNCE.from_config(loss.get_config())
        self.assertEqual(rebuilt.temperature, 0.7)
        self.assertEqual(rebuilt.reduction, "sum_over_batch_size")

    @pytest.mark.distributed
    def test_two_replicas_sum_to_single_device_loss(self):
        queries, keys = _random(6, (8, 4)), _random(7, (8, 4))
        negatives = _random(8, (5, 4))
        single = losses.InfoNCE(0.2)(queries, (keys, negatives))
        strategy = mirrored_strategy()
        dataset = tf.data.Dataset.from_tensors((queries, keys))
        inputs = next(iter(strategy.experimental_distribute_dataset(dataset)))
        loss = losses.InfoNCE(0.2)

        def step(q, k):
            return loss(q, (k, negatives))

        per_replica = strategy.run(step, args=inputs)
        total = strategy.reduce("SUM", per_replica, axis=None)
        self.assertAllClose(total, single, atol=1e-5)
