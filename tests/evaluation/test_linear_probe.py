"""Tests for `ssl_tf.evaluation.linear` and `lbfgs`."""

import numpy as np

from ssl_tf.evaluation import lbfgs, linear
from ssl_tf.evaluation.metrics import accuracy_metrics, top_k_accuracy
from ssl_tf.testing import TestCase, tiny_encoder, tiny_images


def _separable(n, num_classes=4, dim=16, seed=0):
    """Well-separated Gaussian clusters, one per class."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, n)
    centers = np.eye(num_classes, dim) * 5.0
    features = centers[labels] + 0.3 * rng.normal(size=(n, dim))
    return features.astype("float32"), labels


class LBFGSTest(TestCase):
    def test_minimizes_quadratic(self):
        rng = np.random.default_rng(0)
        a = rng.normal(size=(20, 10))
        hessian = a.T @ a + np.eye(10)
        target = rng.normal(size=10)

        def fun(x):
            diff = x - target
            return float(0.5 * diff @ hessian @ diff), hessian @ diff

        result = lbfgs.minimize_lbfgs(
            fun, np.zeros(10), gradient_tol=1e-8, value_tol=0.0
        )
        self.assertTrue(result.converged)
        self.assertAllClose(result.x, target, atol=1e-5)


class TopKTest(TestCase):
    def test_top_k(self):
        scores = np.array([[0.1, 0.5, 0.4], [0.9, 0.05, 0.05]])
        labels = np.array([2, 2])
        self.assertEqual(top_k_accuracy(scores, labels, 1), 0.0)
        self.assertEqual(top_k_accuracy(scores, labels, 2), 0.5)
        self.assertEqual(top_k_accuracy(scores, labels, 5), 1.0)

    def test_top5_only_for_more_than_5_classes(self):
        labels = np.array([0, 1, 2, 4])
        self.assertEqual(
            accuracy_metrics(np.eye(5)[[0, 1, 2, 3]], labels), {"top1": 0.75}
        )
        scores = np.eye(6)[[0, 1, 2, 3]]
        scores[3, 4] = 0.5  # label 4 is second for the last row
        self.assertEqual(
            accuracy_metrics(scores, labels), {"top1": 0.75, "top5": 1.0}
        )


class LinearProbeTest(TestCase):
    def test_separable_reaches_100_percent(self):
        train_x, train_y = _separable(400, seed=0)
        test_x, test_y = _separable(200, seed=1)
        result = linear.linear_probe(train_x, train_y, test_x, test_y)
        self.assertEqual(result["top1"], 1.0)
        self.assertNotIn("top5", result)  # 4 classes: always 100%
        train_x, train_y = _separable(400, num_classes=8, seed=0)
        test_x, test_y = _separable(200, num_classes=8, seed=1)
        result = linear.linear_probe(train_x, train_y, test_x, test_y)
        self.assertEqual(result["top5"], 1.0)
        self.assertLen(result["val_top1_by_l2"], 5)
        self.assertIn(result["chosen_l2"], linear.DEFAULT_L2_GRID)

    def test_shuffled_labels_stay_near_chance(self):
        rng = np.random.default_rng(0)
        train_x, train_y = _separable(600, seed=0)
        test_x, test_y = _separable(1000, seed=1)
        result = linear.linear_probe(
            train_x, rng.permutation(train_y), test_x, rng.permutation(test_y)
        )
        self.assertLess(result["top1"], 0.25 + 0.08)

    def test_validation_split_is_seeded_and_disjoint(self):
        fit_1, val_1 = linear.split_validation(100, 0.1, seed=3)
        fit_2, val_2 = linear.split_validation(100, 0.1, seed=3)
        self.assertAllEqual(val_1, val_2)
        self.assertLen(val_1, 10)
        self.assertEmpty(np.intersect1d(fit_1, val_1))
        self.assertLen(np.union1d(fit_1, val_1), 100)
        _, val_3 = linear.split_validation(100, 0.1, seed=4)
        self.assertNotAllEqual(val_1, val_3)

    def test_regularisation_never_sees_test(self):
        train_x, train_y = _separable(300, seed=0)
        test_x, test_y = _separable(100, seed=1)
        # A marker column: test rows are recognisable wherever they go.
        train_x = np.concatenate([train_x, np.zeros((300, 1), "float32")], 1)
        test_x = np.concatenate([test_x, np.full((100, 1), 9.0, "float32")], 1)
        events = []
        fit = linear.fit_linear_classifier
        scores = linear.LinearClassifier.scores

        def spy_fit(x, *args, **kwargs):
            events.append(("fit", np.any(np.asarray(x)[:, -1] == 9.0)))
            return fit(x, *args, **kwargs)

        def spy_scores(self, x):
            events.append(("score", np.any(np.asarray(x)[:, -1] == 9.0)))
            return scores(self, x)

        self.enter_context(_patch(linear, "fit_linear_classifier", spy_fit))
        self.enter_context(
            _patch(linear.LinearClassifier, "scores", spy_scores)
        )
        result = linear.linear_probe(
            train_x, train_y, test_x, test_y, l2_grid=(1e-4, 1e-2)
        )
        fits = [i for i, (kind, _) in enumerate(events) if kind == "fit"]
        self.assertLen(fits, 3)  # two sweep fits and the refit
        # Before the refit, nothing involving test rows happened.
        self.assertFalse(any(has_test for _, has_test in events[: fits[-1]]))
        self.assertTrue(any(has_test for _, has_test in events[fits[-1] :]))
        # The sweep result does not depend on the test set at all.
        other = linear.linear_probe(
            train_x, train_y, test_x[::-1] * 0.0, test_y, l2_grid=(1e-4, 1e-2)
        )
        self.assertEqual(other["chosen_l2"], result["chosen_l2"])
        self.assertEqual(other["val_top1_by_l2"], result["val_top1_by_l2"])

    def test_encoder_weights_bit_identical(self):
        encoder = tiny_encoder(strides=2)
        images = tiny_images(24, size=8, seed=0)
        labels = np.arange(24) % 3
        encoder(images[:2].astype("float32") / 255.0)
        before = [np.array(w) for w in encoder.get_weights()]
        result = linear.linear_probe_encoder(
            encoder,
            images[:16],
            labels[:16],
            images[16:],
            labels[16:],
            batch_size=8,
            l2_grid=(1e-3,),
        )
        self.assertBetween(result["top1"], 0.0, 1.0)
        after = encoder.get_weights()
        self.assertLen(after, len(before))
        for old, new in zip(before, after, strict=True):
            self.assertTrue(np.array_equal(old, new))


class _patch:
    """Sets an attribute for the duration of a `with` block."""

    def __init__(self, owner, name, value):
        self.owner, self.name, self.value = owner, name, value

    def __enter__(self):
        self.old = getattr(self.owner, self.name)
        setattr(self.owner, self.name, self.value)

    def __exit__(self, *exc):
        setattr(self.owner, self.name, self.old)
