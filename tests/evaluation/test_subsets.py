"""Tests for `ssl_tf.evaluation.subsets`."""

import math

import numpy as np

from ssl_tf.evaluation.subsets import balanced_subset
from ssl_tf.testing import TestCase


class BalancedSubsetTest(TestCase):
    def test_class_balanced(self):
        labels = np.random.default_rng(0).permutation(
            np.repeat(np.arange(10), 200)
        )
        subset = balanced_subset(labels, 0.01, seed=0)
        self.assertAllEqual(np.bincount(labels[subset]), [2] * 10)
        subset = balanced_subset(labels, 0.1, seed=0)
        self.assertAllEqual(np.bincount(labels[subset]), [20] * 10)

    def test_unequal_classes_get_ceil_of_their_share(self):
        counts = [100, 37, 5]
        labels = np.repeat(np.arange(3), counts)
        subset = balanced_subset(labels, 0.07, seed=1)
        expected = [math.ceil(0.07 * 100 - 1e-9), math.ceil(0.07 * 37), 1]
        self.assertAllEqual(np.bincount(labels[subset]), expected)
        self.assertEqual(expected[0], 7)

    def test_nested_and_seeded(self):
        labels = np.repeat(np.arange(5), 300)
        small = balanced_subset(labels, 0.01, seed=3)
        medium = balanced_subset(labels, 0.1, seed=3)
        large = balanced_subset(labels, 0.5, seed=3)
        self.assertTrue(np.all(np.isin(small, medium)))
        self.assertTrue(np.all(np.isin(medium, large)))
        self.assertAllEqual(small, balanced_subset(labels, 0.01, seed=3))
        self.assertNotAllEqual(medium, balanced_subset(labels, 0.1, seed=4))
        self.assertLen(balanced_subset(labels, 1.0, seed=3), len(labels))

    def test_rejects_bad_fraction(self):
        with self.assertRaisesRegex(ValueError, "fraction"):
            balanced_subset([0, 1], 0.0)
        with self.assertRaisesRegex(ValueError, "fraction"):
            balanced_subset([0, 1], 1.5)
