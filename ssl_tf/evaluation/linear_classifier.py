"""`fit_linear_classifier`: softmax regression by full-batch L-BFGS.

The solver of the linear probe (`ssl_tf.evaluation.linear`, which chooses
the regularisation strength and scores the probe) and of
`benchmarks/linear_solver.py`.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from ssl_tf.evaluation.lbfgs import minimize_lbfgs


@dataclasses.dataclass(frozen=True)
class LinearClassifier:
    """A fitted probe: `scores = ((x - mean) / scale) @ weights + bias`."""

    weights: np.ndarray
    bias: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    iterations: int = 0

    def scores(self, x) -> np.ndarray:
        x = (np.asarray(x, np.float32) - self.mean) / self.scale
        return x @ self.weights + self.bias


def _softmax_objective(x, y, num_classes, l2):
    """`params -> (loss, gradient)` for flat `[weights, bias]` parameters.

    The value and gradient run as one TensorFlow graph: on a busy shared
    CPU, TensorFlow's thread pool is several times faster than NumPy's
    BLAS threads for these tall, narrow products.
    """
    n, d = x.shape
    size = d * num_classes
    features = tf.constant(x, tf.float32)
    one_hot = tf.one_hot(y, num_classes, dtype=tf.float32)

    @tf.function(reduce_retracing=True)
    def evaluate(params):
        weights = tf.reshape(params[:size], (d, num_classes))
        logits = tf.matmul(features, weights) + params[size:]
        per_example = tf.reduce_logsumexp(logits, axis=1) - tf.reduce_sum(
            logits * one_hot, axis=1
        )
        # Sums in float64: the line search compares values that differ by
        # less than float32 resolution near the optimum. The bias is not
        # regularised, as in scikit-learn.
        loss = tf.reduce_mean(tf.cast(per_example, tf.float64))
        loss += 0.5 * l2 * tf.reduce_sum(tf.cast(weights, tf.float64) ** 2)
        delta = (tf.nn.softmax(logits) - one_hot) / n
        weights_gradient = (
            tf.matmul(features, delta, transpose_a=True) + l2 * weights
        )
        gradient = tf.concat(
            [tf.reshape(weights_gradient, [-1]), tf.reduce_sum(delta, 0)], 0
        )
        return loss, gradient

    def objective(params):
        loss, gradient = evaluate(tf.constant(params, tf.float32))
        return float(loss), gradient.numpy()

    return objective


def fit_linear_classifier(
    x,
    y,
    num_classes: int,
    l2: float,
    max_iter: int = 300,
    init: LinearClassifier | None = None,
) -> LinearClassifier:
    """Fits a multinomial logistic regression by full-batch L-BFGS.

    Minimises `mean cross-entropy + l2 / 2 * ||weights||^2` on features
    standardised with their own mean and standard deviation.

    Args:
        x: `(n, d)` features.
        y: `(n,)` integer labels in `[0, num_classes)`.
        num_classes: Integer, number of classes.
        l2: Float, the regularisation strength.
        max_iter: Integer, the most L-BFGS iterations.
        init: A classifier to start from (warm start along a sweep).

    Returns:
        A `LinearClassifier`.
    """
    if l2 < 0:
        raise ValueError(f"`l2` must be non-negative. Received: l2={l2}")
    x = np.asarray(x, np.float32)
    y = np.asarray(y, np.int64)
    mean = x.mean(axis=0)
    # Constant features get scale 1 instead of a division by zero.
    scale = x.std(axis=0)
    scale = np.where(scale > 1e-6, scale, 1.0).astype(np.float32)
    standardized = (x - mean) / scale
    d = x.shape[1]
    if init is None:
        start = np.zeros(d * num_classes + num_classes, np.float32)
    else:
        start = np.concatenate([init.weights.ravel(), init.bias])
    result = minimize_lbfgs(
        _softmax_objective(standardized, y, num_classes, l2),
        start.astype(np.float32),
        max_iter=max_iter,
    )
    params = result.x.astype(np.float32)
    return LinearClassifier(
        weights=params[: d * num_classes].reshape(d, num_classes),
        bias=params[d * num_classes :],
        mean=mean,
        scale=scale,
        iterations=result.iterations,
    )
