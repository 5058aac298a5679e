"""Linear-probe solver side by side: ssl_tf's L-BFGS vs scikit-learn's.

Runs the whole `ssl_tf.evaluation.linear.linear_probe` (L2 chosen on a
held-out train slice over the default grid, then refitted on all training
features) once with each solver on the same cached features and prints a
table: wall time, chosen L2, validation and test top-1. Also times one fit
at a fixed L2. scikit-learn's `LogisticRegression(solver="lbfgs")`
minimises `C * sum(cross-entropy) + ||W||^2 / 2`, which is the probe's
`mean(cross-entropy) + l2 / 2 * ||W||^2` for `C = 1 / (l2 * n)`.

Usage (features from `ssl_tf.evaluation.features.load_features`, e.g. the
50k x 128 CIFAR-10 features of a random-init export):

    python benchmarks/linear_solver.py TRAIN.npz TEST.npz [--max-iter 300]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.linear_model import LogisticRegression

import ssl_tf


def sklearn_fit(x, y, num_classes, l2, max_iter=300, init=None, tol=1e-4):
    """`fit_linear_classifier` with scikit-learn's L-BFGS (warm-started)."""
    x = np.asarray(x, np.float32)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale > 1e-6, scale, 1.0).astype(np.float32)
    model = LogisticRegression(
        C=1.0 / (max(l2, 1e-12) * len(y)),
        solver="lbfgs",
        max_iter=max_iter,
        tol=tol,
        warm_start=init is not None,
    )
    if init is not None:
        model.coef_ = init.weights.T.astype(np.float64)
        model.intercept_ = init.bias.astype(np.float64)
    model.fit((x - mean) / scale, y)
    return ssl_tf.evaluation.LinearClassifier(
        weights=model.coef_.T.astype(np.float32),
        bias=model.intercept_.astype(np.float32),
        mean=mean,
        scale=scale,
        iterations=int(np.max(model.n_iter_)),
    )


def _load(path):
    with np.load(path) as stored:
        return stored["features"], stored["labels"]


def _probe(fit, train, test, max_iter):
    start = time.perf_counter()
    metrics = ssl_tf.evaluation.linear_probe(
        *train, *test, max_iter=max_iter, fit=fit
    )
    return time.perf_counter() - start, metrics


def _single_fit(fit, train, test, l2, max_iter):
    start = time.perf_counter()
    classifier = fit(*train, 10, l2, max_iter)
    seconds = time.perf_counter() - start
    accuracy = ssl_tf.evaluation.top_k_accuracy(
        classifier.scores(test[0]), test[1], 1
    )
    return seconds, accuracy, classifier.iterations


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("train")
    parser.add_argument("test")
    parser.add_argument("--max-iter", type=int, default=300)
    parser.add_argument("--l2", type=float, default=1e-4)
    args = parser.parse_args(argv)
    train, test = _load(args.train), _load(args.test)
    solvers = {
        "ssl_tf L-BFGS": ssl_tf.evaluation.fit_linear_classifier,
        "sklearn lbfgs tol=1e-4": sklearn_fit,
    }
    print(f"train {train[0].shape}, test {test[0].shape}\n")
    print(f"One fit at l2={args.l2:g}, max_iter={args.max_iter}:")
    print("| solver | wall s | iterations | test top-1 |")
    print("|---|---|---|---|")
    for name, fit in solvers.items():
        seconds, accuracy, iterations = _single_fit(
            fit, train, test, args.l2, args.max_iter
        )
        print(f"| {name} | {seconds:.1f} | {iterations} | {accuracy:.4f} |")
    print("\nFull linear_probe (default l2 grid):")
    print("| solver | wall s | chosen l2 | val top-1 | test top-1 |")
    print("|---|---|---|---|---|")
    for name, fit in solvers.items():
        seconds, m = _probe(fit, train, test, args.max_iter)
        val = m["val_top1_by_l2"][f"{m['chosen_l2']:g}"]
        print(
            f"| {name} | {seconds:.1f} | {m['chosen_l2']:g} | {val:.4f} "
            f"| {m['top1']:.4f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
