"""Tests for `ssl_tf.evaluation.knn`."""

import glob
import os
import shutil
import tempfile

import keras
import numpy as np
import tensorflow as tf

from ssl_tf.evaluation import knn
from ssl_tf.testing import TestCase, tiny_encoder, tiny_images


def _reference_predictions(train_x, train_y, test_x, k, temperature, classes):
    """One query at a time, full sort: the definition of weighted kNN."""
    train = train_x / np.linalg.norm(train_x, axis=1, keepdims=True)
    predictions = []
    for query in test_x:
        similarity = train @ (query / np.linalg.norm(query))
        scores = np.zeros(classes)
        for index in np.argsort(-similarity)[:k]:
            scores[train_y[index]] += np.exp(similarity[index] / temperature)
        predictions.append(int(np.argmax(scores)))
    return np.array(predictions)


class _WithEncoder(keras.Model):
    def __init__(self, encoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.head = keras.layers.Dense(2)

    def call(self, images, training=False):
        return self.head(self.encoder(images, training=training))


class KNNTest(TestCase):
    def test_matches_numpy_reference(self):
        rng = np.random.default_rng(0)
        train_x = rng.normal(size=(120, 8)).astype("float32")
        train_y = rng.integers(0, 4, 120)
        test_x = rng.normal(size=(37, 8)).astype("float32")
        for k, temperature in ((1, 0.1), (5, 0.1), (11, 0.5)):
            expected = _reference_predictions(
                train_x, train_y, test_x, k, temperature, 4
            )
            got = knn.knn_classify(
                train_x, train_y, test_x, k, temperature, 4, batch_size=7
            )
            self.assertAllEqual(got, expected)

    def test_accuracy_and_k_larger_than_train(self):
        train_x = np.array([[1.0, 0.0], [0.0, 1.0], [0.9, 0.1]], "float32")
        train_y = np.array([0, 1, 0])
        test_x = np.array([[1.0, 0.05], [0.05, 1.0]], "float32")
        accuracy = knn.knn_accuracy(
            train_x, train_y, test_x, [0, 1], k=1, temperature=0.1
        )
        self.assertEqual(accuracy, 1.0)
        # k above n_train is capped; at a high temperature the votes are
        # nearly equal and class 0, with two neighbours, wins everywhere.
        predictions = knn.knn_classify(
            train_x, train_y, test_x, k=50, temperature=100.0
        )
        self.assertAllEqual(predictions, [0, 0])
        # At a low temperature the single closest neighbour dominates.
        predictions = knn.knn_classify(
            train_x, train_y, test_x, k=50, temperature=0.05
        )
        self.assertAllEqual(predictions, [0, 1])

    def test_rejects_bad_arguments(self):
        x = np.ones((2, 2), "float32")
        with self.assertRaisesRegex(ValueError, "temperature"):
            knn.knn_classify(x, [0, 1], x, k=1, temperature=0.0)
        with self.assertRaisesRegex(ValueError, "`k`"):
            knn.knn_classify(x, [0, 1], x, k=0)


class KNNMonitorTest(TestCase):
    def _monitor(self, every_n_epochs=1):
        images = tiny_images(24, size=8, seed=1)
        labels = np.arange(24) % 3
        return knn.KNNMonitor(
            images[:16],
            labels[:16],
            images[16:],
            labels[16:],
            every_n_epochs=every_n_epochs,
            options=knn.KNNOptions(k=3),
        )

    def test_logs_accuracy_without_touching_weights(self):
        model = _WithEncoder(tiny_encoder(strides=2), name="toy")
        model(np.zeros((1, 8, 8, 3), "float32"))
        before = [np.array(w) for w in model.get_weights()]
        monitor = self._monitor(every_n_epochs=2)
        monitor.set_model(model)
        logs = {}
        monitor.on_epoch_end(0, logs)
        self.assertNotIn("knn_accuracy", logs)
        monitor.on_epoch_end(1, logs)
        self.assertBetween(logs["knn_accuracy"], 0.0, 1.0)
        for old, new in zip(before, model.get_weights(), strict=True):
            self.assertTrue(np.array_equal(old, new))

    def test_metric_reaches_history_and_tensorboard(self):
        model = _WithEncoder(tiny_encoder(strides=2), name="toy")
        model.compile(optimizer="sgd", loss="mse")
        log_dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, log_dir, True)
        images = tiny_images(16, size=8, seed=2).astype("float32") / 255.0
        history = model.fit(
            images,
            np.zeros((16, 2), "float32"),
            epochs=1,
            batch_size=8,
            verbose=0,
            callbacks=[
                self._monitor(),
                keras.callbacks.TensorBoard(log_dir),
            ],
        )
        self.assertIn("knn_accuracy", history.history)
        tags = set()
        for path in glob.glob(os.path.join(log_dir, "train", "events*")):
            for event in tf.compat.v1.train.summary_iterator(path):
                tags.update(value.tag for value in event.summary.value)
        self.assertIn("epoch_knn_accuracy", tags)
