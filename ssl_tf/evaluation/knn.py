"""Weighted k-nearest-neighbour classification of frozen embeddings.

The protocol of InstDisc and MoCo: cosine similarity between L2-normalised
embeddings; each of the `k` nearest training embeddings votes for its class
with weight `exp(similarity / temperature)`.

Reference:
 - [Wu et al., 2018](https://arxiv.org/abs/1805.01978)
 - [He et al., 2019](https://arxiv.org/abs/1911.05722)
"""

from __future__ import annotations

import dataclasses
import logging

import keras
import numpy as np

from ssl_tf.evaluation import base
from ssl_tf.evaluation import features as features_lib
from ssl_tf.evaluation.metrics import accuracy_metrics, top_k_accuracy

logger = logging.getLogger("ssl_tf.evaluation")


def l2_normalize(x, epsilon: float = 1e-12) -> np.ndarray:
    """Rows of `x` scaled to unit length (zero rows stay zero)."""
    x = np.asarray(x, np.float32)
    norms = np.sqrt(np.sum(x * x, axis=1, keepdims=True))
    return x / np.maximum(norms, epsilon)


def knn_scores(
    train_x,
    train_y,
    test_x,
    k: int = 200,
    temperature: float = 0.1,
    num_classes: int | None = None,
    batch_size: int = 256,
) -> np.ndarray:
    """Class votes `(n_test, num_classes)` of the weighted kNN classifier.

    Args:
        train_x: `(n_train, d)` embeddings of the labelled set.
        train_y: `(n_train,)` integer labels.
        test_x: `(n_test, d)` query embeddings.
        k: Integer, neighbours per query (capped at `n_train`).
        temperature: Float, softness of the vote weights.
        num_classes: Integer; by default the largest label plus one.
        batch_size: Integer, queries per similarity matrix (memory bound:
            `batch_size * n_train` floats).

    Returns:
        A float32 array of summed vote weights per class.
    """
    if k < 1:
        raise ValueError(f"`k` must be at least 1. Received: k={k}")
    if temperature <= 0:
        raise ValueError(
            "`temperature` must be positive. Received: "
            f"temperature={temperature}"
        )
    train_y = np.asarray(train_y, np.int64)
    if num_classes is None:
        num_classes = int(train_y.max()) + 1
    train = l2_normalize(train_x)
    queries = l2_normalize(test_x)
    k = min(k, len(train))
    scores = np.zeros((len(queries), num_classes), np.float32)
    for start in range(0, len(queries), batch_size):
        similarity = queries[start : start + batch_size] @ train.T
        rows = np.arange(len(similarity))[:, None]
        # argpartition finds the k largest without sorting all n_train.
        nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        weights = np.exp(similarity[rows, nearest] / temperature)
        votes = scores[start : start + batch_size]
        np.add.at(
            votes,
            (np.broadcast_to(rows, nearest.shape), train_y[nearest]),
            weights,
        )
    return scores


def knn_classify(train_x, train_y, test_x, *args, **kwargs) -> np.ndarray:
    """Predicted labels `(n_test,)` of the weighted kNN classifier.

    Takes the arguments of `knn_scores`. Ties go to the lower class index.

    Example:
    >>> train = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> knn_classify(train, [0, 1], np.array([[0.9, 0.1]]), k=1).tolist()
    [0]
    """
    scores = knn_scores(train_x, train_y, test_x, *args, **kwargs)
    return np.argmax(scores, axis=1).astype(np.int64)


def knn_accuracy(
    train_x, train_y, test_x, test_y, top_k=1, num_classes=None, **kwargs
) -> float:
    """Top-`top_k` accuracy of the weighted kNN classifier on `test_y`.

    `kwargs` (`k`, `temperature`, `batch_size`) go to `knn_scores`.
    """
    test_y = np.asarray(test_y, np.int64)
    if num_classes is None:
        num_classes = int(max(np.max(train_y), np.max(test_y))) + 1
    scores = knn_scores(
        train_x, train_y, test_x, num_classes=num_classes, **kwargs
    )
    return top_k_accuracy(scores, test_y, top_k)


@dataclasses.dataclass(frozen=True)
class KNNOptions(base.ProtocolOptions):
    """Options of the `knn` protocol (and the shared ones).

    Args:
        k: Integer, neighbours per query.
        temperature: Float, softness of the vote weights.
    """

    k: int = 200
    temperature: float = 0.1


class KNNMonitor(keras.callbacks.Callback):
    """Logs the kNN accuracy of `model.encoder` every few epochs.

    A labelled train part and test part are embedded with the encoder in
    inference mode (`training=False`: no weight or batch-norm statistic
    changes) and the test part is classified by weighted kNN over the
    train part. The accuracy is added to the epoch `logs` as
    `knn_accuracy`, so the progress bar, `History` and TensorBoard show it.

    Keras calls callbacks in list order with one shared `logs` dict: place
    `KNNMonitor` before `keras.callbacks.TensorBoard` in `callbacks`, or
    TensorBoard writes the epoch scalars before the value is there.

    Args:
        train_images: `(n, h, w, 3)` uint8 images with labels `train_labels`.
        train_labels: `(n,)` integer labels.
        test_images: `(m, h, w, 3)` uint8 images with labels `test_labels`.
        test_labels: `(m,)` integer labels.
        every_n_epochs: Integer, evaluate after every this many epochs.
        options: a `KNNOptions`, as the `knn` protocol takes them: `k`,
            `temperature`, and `batch_size` images per encoder call.
        name: The metric name in `logs`.

    Example:
    >>> monitor = KNNMonitor(train_images, train_labels, test_images,
    ...                      test_labels, every_n_epochs=5)
    >>> model.fit(data, callbacks=[monitor, keras.callbacks.TensorBoard(d)])
    """

    def __init__(
        self,
        train_images,
        train_labels,
        test_images,
        test_labels,
        every_n_epochs: int = 1,
        options: KNNOptions = KNNOptions(),
        name: str = "knn_accuracy",
    ):
        super().__init__()
        if every_n_epochs < 1:
            raise ValueError(
                "`every_n_epochs` must be at least 1. Received: "
                f"every_n_epochs={every_n_epochs}"
            )
        self.train_images = np.asarray(train_images)
        self.train_labels = np.asarray(train_labels, np.int64)
        self.test_images = np.asarray(test_images)
        self.test_labels = np.asarray(test_labels, np.int64)
        self.every_n_epochs = every_n_epochs
        self.options = options
        self.name = name

    def evaluate(self) -> float:
        """The kNN accuracy of the current `model.encoder`."""
        encoder = getattr(self.model, "encoder", self.model)
        batch_size = self.options.batch_size
        train_x = features_lib.embed_images(
            encoder, self.train_images, batch_size
        )
        test_x = features_lib.embed_images(
            encoder, self.test_images, batch_size
        )
        return knn_accuracy(
            train_x,
            self.train_labels,
            test_x,
            self.test_labels,
            k=self.options.k,
            temperature=self.options.temperature,
        )

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_n_epochs:
            return
        accuracy = self.evaluate()
        if logs is not None:
            logs[self.name] = accuracy
        logger.info("Epoch %d: %s = %.4f", epoch + 1, self.name, accuracy)


@base.register_protocol("knn", KNNOptions)
def knn(context, options) -> base.ProtocolResult:
    """Weighted kNN vote (cosine similarity) on frozen features."""
    train, test, num_classes = context.train_test()
    scores = knn_scores(
        *(train.features, train.labels, test.features),
        k=options.k,
        temperature=options.temperature,
        num_classes=num_classes,
    )
    metrics = accuracy_metrics(scores, test.labels)
    return context.train_test_result(metrics, train, test)
