"""Linear probe: L2-regularised softmax regression on frozen features.

The regularisation strength is chosen on a seeded held-out slice of the
training features (never on the test set); the probe is then refitted on
all training features with that strength and scored once on the test set.
Features are standardised with statistics of the data being fitted.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ssl_tf.evaluation import base
from ssl_tf.evaluation import features as features_lib
from ssl_tf.evaluation.linear_classifier import (
    LinearClassifier,
    fit_linear_classifier,
)
from ssl_tf.evaluation.metrics import accuracy_metrics, top_k_accuracy

# `LinearClassifier` and `fit_linear_classifier` live in `linear_classifier`
# and are re-exported: tests and callers reach them as `linear.<name>`.
__all__ = [
    "DEFAULT_L2_GRID",
    "LinearClassifier",
    "LinearOptions",
    "fit_linear_classifier",
    "linear",
    "linear_probe",
    "linear_probe_encoder",
    "select_l2",
    "split_validation",
]

DEFAULT_L2_GRID = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2)


def split_validation(n: int, val_fraction: float, seed: int):
    """Seeded `(fit_indices, val_indices)` partition of `range(n)`."""
    if not 0 < val_fraction < 1:
        raise ValueError(
            "`val_fraction` must be in (0, 1). Received: "
            f"val_fraction={val_fraction}"
        )
    order = np.random.default_rng(seed).permutation(n)
    num_val = min(max(1, int(round(val_fraction * n))), n - 1)
    return np.sort(order[num_val:]), np.sort(order[:num_val])


def select_l2(
    train_x,
    train_y,
    num_classes: int,
    l2_grid=DEFAULT_L2_GRID,
    val_fraction: float = 0.1,
    seed: int = 0,
    max_iter: int = 300,
    fit=None,
):
    """Chooses the regularisation strength on a held-out training slice.

    Only training features are seen here. The strongest regularisation
    among equally accurate ones wins ties. `fit` replaces
    `fit_linear_classifier` (same signature), e.g. to compare solvers.

    Returns:
        `(chosen_l2, val_top1_by_l2, classifier)`: the chosen strength, a
        dict from each strength to its validation top-1, and the probe
        fitted on the training slice with the chosen strength.
    """
    if not l2_grid:
        raise ValueError("`l2_grid` must not be empty.")
    fit = fit or fit_linear_classifier
    fit_idx, val_idx = split_validation(len(train_y), val_fraction, seed)
    val_top1 = {}
    fitted = {}
    previous = None
    # Strongest first: each fit warm-starts from a smoother solution.
    for l2 in sorted(l2_grid, reverse=True):
        previous = fit(
            train_x[fit_idx],
            train_y[fit_idx],
            num_classes,
            l2,
            max_iter,
            init=previous,
        )
        fitted[l2] = previous
        val_top1[l2] = top_k_accuracy(
            previous.scores(train_x[val_idx]), train_y[val_idx], 1
        )
    chosen = max(sorted(val_top1, reverse=True), key=val_top1.get)
    return chosen, val_top1, fitted[chosen]


def linear_probe(
    train_x,
    train_y,
    test_x,
    test_y,
    l2_grid=DEFAULT_L2_GRID,
    seed: int = 0,
    val_fraction: float = 0.1,
    num_classes: int | None = None,
    max_iter: int = 300,
    fit=None,
) -> dict:
    """Linear-probe accuracy of frozen features.

    Args:
        train_x, train_y: Training features `(n, d)` and labels `(n,)`.
        test_x, test_y: Test features and labels, used only for the final
            score.
        l2_grid: Regularisation strengths to sweep.
        seed: Integer seed of the held-out slice.
        val_fraction: Fraction of the training set held out for the sweep.
        num_classes: Integer; by default the largest label plus one.
        max_iter: Integer, the most L-BFGS iterations per fit.
        fit: the solver, `fit_linear_classifier` by default (the
            benchmark `benchmarks/linear_solver.py` passes scikit-learn's).

    Returns:
        A dict with `top1`, `top5` (test; only for more than 5 classes),
        `chosen_l2`, `val_top1_by_l2` (keys formatted with `"%g"`) and
        `train_top1`.

    Example:
    >>> x = np.eye(4, dtype="float32").repeat(10, axis=0)
    >>> y = np.arange(4).repeat(10)
    >>> linear_probe(x, y, x, y)["top1"]
    1.0
    """
    train_x = np.asarray(train_x, np.float32)
    train_y = np.asarray(train_y, np.int64)
    test_x = np.asarray(test_x, np.float32)
    test_y = np.asarray(test_y, np.int64)
    if num_classes is None:
        num_classes = int(max(train_y.max(), test_y.max())) + 1
    fit = fit or fit_linear_classifier
    chosen, val_top1, fitted = select_l2(
        train_x,
        train_y,
        num_classes,
        l2_grid,
        val_fraction,
        seed,
        max_iter,
        fit,
    )
    final = fit(train_x, train_y, num_classes, chosen, max_iter, init=fitted)
    test_scores = final.scores(test_x)
    return {
        **accuracy_metrics(test_scores, test_y),
        "chosen_l2": float(chosen),
        "val_top1_by_l2": {f"{l2:g}": acc for l2, acc in val_top1.items()},
        "train_top1": top_k_accuracy(final.scores(train_x), train_y, 1),
    }


def linear_probe_encoder(
    encoder,
    train_images,
    train_labels,
    test_images,
    test_labels,
    batch_size: int = 256,
    **probe_kwargs,
) -> dict:
    """Linear probe of an encoder on uint8 images, the encoder kept frozen.

    The encoder only embeds images (Keras encoders with `training=False`),
    so its weights, batch-norm statistics included, are left unchanged.

    Args:
        encoder: A `LoadedEncoder` or a `keras.Model` taking `[0, 1]` images.
        train_images, test_images: `(n, h, w, 3)` uint8 images.
        train_labels, test_labels: `(n,)` integer labels.
        batch_size: Integer, images per encoder call.
        **probe_kwargs: passed to `linear_probe`.

    Returns:
        The `linear_probe` dict.
    """
    train_x = features_lib.embed_images(encoder, train_images, batch_size)
    test_x = features_lib.embed_images(encoder, test_images, batch_size)
    return linear_probe(
        train_x, train_labels, test_x, test_labels, **probe_kwargs
    )


@dataclasses.dataclass(frozen=True)
class LinearOptions(base.ProtocolOptions):
    """Options of the `linear` protocol (and the shared ones).

    Args:
        l2_grid: Regularisation strengths swept on the held-out slice.
        val_fraction: Fraction of the train split held out for the sweep.
        max_iter: Integer, the most L-BFGS iterations per fit.
    """

    l2_grid: tuple[float, ...] = DEFAULT_L2_GRID
    val_fraction: float = 0.1
    max_iter: int = 300


@base.register_protocol("linear", LinearOptions)
def linear(context, options) -> base.ProtocolResult:
    """Linear probe on frozen features, L2 chosen on a train slice.

    The strength is picked on a seeded held-out slice of the train
    features, then the probe is refitted on all of them and scored once
    on the test features.
    """
    train, test, num_classes = context.train_test()
    metrics = linear_probe(
        *(train.features, train.labels, test.features, test.labels),
        num_classes=num_classes,
        l2_grid=list(options.l2_grid),
        seed=options.seed,
        val_fraction=options.val_fraction,
        max_iter=options.max_iter,
    )
    return context.train_test_result(metrics, train, test)
