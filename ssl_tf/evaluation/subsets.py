"""Class-balanced, nested label subsets (semi-supervised 1% / 10% splits)."""

from __future__ import annotations

import math

import numpy as np


def balanced_subset(labels, fraction: float, seed: int = 0) -> np.ndarray:
    """Indices of a class-balanced subset holding `fraction` of each class.

    Each class is shuffled with a generator seeded by `(seed, class)`, and
    its first `ceil(fraction * n_class)` examples are kept. The order does
    not depend on `fraction`, so for one seed smaller subsets are nested in
    larger ones (the 1% subset lies inside the 10% subset).

    Args:
        labels: `(n,)` integer labels.
        fraction: Float in `(0, 1]`.
        seed: Integer seed.

    Returns:
        Sorted int64 indices into `labels`.

    Example:
    >>> labels = np.repeat(np.arange(3), 10)
    >>> len(balanced_subset(labels, 0.2, seed=0))
    6
    """
    if not 0 < fraction <= 1:
        raise ValueError(
            f"`fraction` must be in (0, 1]. Received: fraction={fraction}"
        )
    labels = np.asarray(labels)
    chosen = []
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        rng = np.random.default_rng([seed, int(cls)])
        # The epsilon keeps float error from rounding 0.07 * 100 up to 8.
        keep = math.ceil(fraction * len(members) - 1e-9)
        chosen.append(rng.permutation(members)[:keep])
    if not chosen:
        return np.zeros(0, np.int64)
    return np.sort(np.concatenate(chosen)).astype(np.int64)
