"""Tests for `ssl_tf.evaluation.fewshot`."""

import numpy as np

from ssl_tf.evaluation import fewshot
from ssl_tf.testing import TestCase

_LABELS = np.repeat(np.arange(10), 30)


def _reference_accuracies(
    features, labels, n_way, k_shot, n_query, episodes, seed
):
    """Prototype classification written out with plain loops."""
    rng = np.random.default_rng(seed)
    accuracies = []
    for _ in range(episodes):
        support, support_y, query, query_y = fewshot.sample_episode(
            labels, n_way, k_shot, n_query, rng
        )
        unit = features / np.linalg.norm(features, axis=1, keepdims=True)
        prototypes = []
        for c in range(n_way):
            mean = unit[support[support_y == c]].mean(axis=0)
            prototypes.append(mean / np.linalg.norm(mean))
        correct = 0
        for index, label in zip(query, query_y, strict=True):
            similarity = [unit[index] @ p for p in prototypes]
            correct += int(np.argmax(similarity) == label)
        accuracies.append(correct / len(query))
    return np.array(accuracies)


class SampleEpisodeTest(TestCase):
    def test_n_classes_k_shots_disjoint(self):
        rng = np.random.default_rng(0)
        support, support_y, query, query_y = fewshot.sample_episode(
            _LABELS, n_way=5, k_shot=3, n_query=4, rng=rng
        )
        self.assertLen(support, 15)
        self.assertLen(query, 20)
        self.assertLen(np.unique(_LABELS[support]), 5)
        self.assertAllEqual(
            np.unique(_LABELS[query]), np.unique(_LABELS[support])
        )
        self.assertAllEqual(np.bincount(support_y), [3] * 5)
        self.assertAllEqual(np.bincount(query_y), [4] * 5)
        self.assertEmpty(np.intersect1d(support, query))
        self.assertLen(np.unique(support), 15)
        self.assertLen(np.unique(query), 20)
        # Episode labels map one-to-one to original classes.
        for c in range(5):
            self.assertLen(np.unique(_LABELS[support[support_y == c]]), 1)
            self.assertAllEqual(
                np.unique(_LABELS[query[query_y == c]]),
                np.unique(_LABELS[support[support_y == c]]),
            )

    def test_reproducible_from_seed(self):
        first = fewshot.sample_episode(
            _LABELS, 5, 1, 15, np.random.default_rng(7)
        )
        again = fewshot.sample_episode(
            _LABELS, 5, 1, 15, np.random.default_rng(7)
        )
        other = fewshot.sample_episode(
            _LABELS, 5, 1, 15, np.random.default_rng(8)
        )
        for a, b in zip(first, again, strict=True):
            self.assertAllEqual(a, b)
        self.assertFalse(np.array_equal(first[2], other[2]))

    def test_too_few_classes(self):
        labels = np.array([0] * 20 + [1] * 20 + [2] * 3)
        with self.assertRaisesRegex(ValueError, "only 2 classes"):
            fewshot.sample_episode(labels, 3, 1, 5, np.random.default_rng(0))


class FewShotEvalTest(TestCase):
    def test_matches_reference_and_ci_formula(self):
        rng = np.random.default_rng(0)
        centers = rng.normal(size=(10, 16))
        features = centers[_LABELS] + 1.5 * rng.normal(size=(300, 16))
        options = fewshot.FewShotOptions(
            n_way=5, k_shot=2, n_query=5, episodes=40, seed=3
        )
        result = fewshot.fewshot_eval(features, _LABELS, options)
        expected = _reference_accuracies(features, _LABELS, 5, 2, 5, 40, 3)
        self.assertAllClose(result["mean"], expected.mean())
        self.assertAllClose(result["ci95"], 1.96 * expected.std() / np.sqrt(40))
        self.assertEqual(result["episodes"], 40)
        self.assertGreater(result["ci95"], 0.0)
        self.assertEqual(
            fewshot.fewshot_eval(features, _LABELS, options),
            fewshot.fewshot_eval(features, _LABELS, options),
        )

    def test_separable_features_are_perfect(self):
        features = np.eye(10)[_LABELS]
        result = fewshot.fewshot_eval(
            features, _LABELS, fewshot.FewShotOptions(episodes=20)
        )
        self.assertEqual(result["mean"], 1.0)
        self.assertEqual(result["ci95"], 0.0)

    def test_prototype_predict_picks_the_known_nearest_prototype(self):
        # Prototypes: class 0 at 0 degrees, class 1 the mean of the unit
        # vectors at 90 and 45 degrees, i.e. at 67.5 degrees.
        support = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        queries = np.array([[1.0, 0.3], [0.5, 1.0], [1.0, 1.0], [1.0, 0.6]])
        # Query angles 16.7, 63.4, 45 and 31 degrees: nearer to 0 than to
        # 67.5 only for the first and the last.
        predictions = fewshot.prototype_predict(
            support, np.array([0, 1, 1]), queries, n_way=2
        )
        self.assertAllEqual(predictions, [0, 1, 1, 0])

    def test_indistinguishable_classes_give_exactly_two_thirds(self):
        # Class 0 points one way, classes 1 and 2 both the other: their
        # prototypes are equal, so every query of either goes to whichever
        # has the lower episode index. With all 3 classes in each episode,
        # every episode scores exactly 2 of 3 query groups.
        labels = np.repeat(np.arange(3), 6)
        features = np.where(labels[:, None] == 0, [1.0, 0.0], [0.0, 1.0])
        options = fewshot.FewShotOptions(
            n_way=3, k_shot=2, n_query=3, episodes=25
        )
        result = fewshot.fewshot_eval(features, labels, options)
        self.assertAllClose(result["mean"], 2 / 3, atol=1e-12)
        self.assertAllClose(result["std"], 0.0, atol=1e-12)
