"""Accuracy from class scores, shared by every protocol."""

from __future__ import annotations

import numpy as np


def top_k_accuracy(scores, labels, k: int = 1) -> float:
    """Fraction of rows whose label is among the `k` highest scores.

    Ties are broken towards the lower class index, as `np.argmax` does.
    `k` larger than the number of classes counts every row as correct.

    Args:
        scores: `(n, num_classes)` array of logits, probabilities or votes.
        labels: `(n,)` integer labels.
        k: Integer, how many top classes count as a hit.

    Returns:
        A float in `[0, 1]`.

    Example:
    >>> top_k_accuracy(np.array([[0.1, 0.9], [0.8, 0.2]]), np.array([1, 1]))
    0.5
    """
    scores = np.asarray(scores)
    labels = np.asarray(labels)
    if scores.ndim != 2 or len(scores) != len(labels):
        raise ValueError(
            "`scores` must have shape (n, num_classes) and match `labels`. "
            f"Received: scores.shape={scores.shape}, "
            f"labels.shape={labels.shape}"
        )
    if len(labels) == 0:
        return 0.0
    k = min(k, scores.shape[1])
    # Stable sort on -scores keeps the lower index first among equal scores.
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float(np.mean(np.any(top == labels[:, None], axis=1)))


def accuracy_metrics(scores, labels) -> dict:
    """`top1`, and `top5` only when there are more than 5 classes.

    With 5 classes or fewer every label is among the top 5, so a top-5
    accuracy would always read 100% and is left out.

    Args:
        scores: `(n, num_classes)` array of logits, probabilities or votes.
        labels: `(n,)` integer labels.

    Returns:
        A dict with `top1` and, for more than 5 classes, `top5`.

    Example:
    >>> accuracy_metrics(np.eye(3), np.array([0, 1, 1]))
    {'top1': 0.6666666666666666}
    """
    metrics = {"top1": top_k_accuracy(scores, labels, 1)}
    if np.shape(scores)[-1] > 5:
        metrics["top5"] = top_k_accuracy(scores, labels, 5)
    return metrics
