"""N-way K-shot episodes on frozen embeddings, nearest class prototype.

Each episode draws `n_way` classes, `k_shot` support and `n_query` query
examples per class (disjoint). A query is assigned to the class whose
prototype (mean of the L2-normalised support embeddings) is most
cosine-similar. The mean episode accuracy is reported with a 95%
confidence interval, `1.96 * std / sqrt(episodes)`.

Reference:
 - [Snell et al., 2017](https://arxiv.org/abs/1703.05175)
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ssl_tf.evaluation import base
from ssl_tf.evaluation.knn import l2_normalize


def sample_episode(labels, n_way: int, k_shot: int, n_query: int, rng):
    """Indices and episode labels of one N-way K-shot episode.

    Only classes with at least `k_shot + n_query` examples are drawn.

    Args:
        labels: `(n,)` integer labels of the pool.
        n_way: Integer, classes per episode.
        k_shot: Integer, support examples per class.
        n_query: Integer, query examples per class.
        rng: A `np.random.Generator`; the episode is a function of its state.

    Returns:
        `(support_idx, support_y, query_idx, query_y)`. Indices point into
        `labels`; `support_y` and `query_y` are episode classes in
        `[0, n_way)` (`labels[support_idx]` gives the original ones).

    Raises:
        ValueError: if fewer than `n_way` classes have enough examples.
    """
    for key, value in (
        ("n_way", n_way),
        ("k_shot", k_shot),
        ("n_query", n_query),
    ):
        if value < 1:
            raise ValueError(
                f"`{key}` must be at least 1. Received: {key}={value}"
            )
    labels = np.asarray(labels)
    classes, counts = np.unique(labels, return_counts=True)
    eligible = classes[counts >= k_shot + n_query]
    if len(eligible) < n_way:
        raise ValueError(
            f"A {n_way}-way {k_shot}-shot episode with {n_query} queries "
            f"needs {n_way} classes with {k_shot + n_query} examples each; "
            f"only {len(eligible)} classes have that many."
        )
    chosen = rng.choice(eligible, size=n_way, replace=False)
    support_idx, query_idx = [], []
    for cls in chosen:
        members = rng.choice(
            np.flatnonzero(labels == cls), size=k_shot + n_query, replace=False
        )
        support_idx.append(members[:k_shot])
        query_idx.append(members[k_shot:])
    episode_classes = np.arange(n_way, dtype=np.int64)
    return (
        np.concatenate(support_idx),
        np.repeat(episode_classes, k_shot),
        np.concatenate(query_idx),
        np.repeat(episode_classes, n_query),
    )


def prototype_predict(support_x, support_y, query_x, n_way: int):
    """Episode class of each query: the most cosine-similar prototype."""
    support = l2_normalize(support_x)
    prototypes = np.stack(
        [support[support_y == c].mean(axis=0) for c in range(n_way)]
    )
    similarity = l2_normalize(query_x) @ l2_normalize(prototypes).T
    return np.argmax(similarity, axis=1)


def episode_accuracies(
    features, labels, n_way=5, k_shot=1, n_query=15, episodes=600, seed=0
) -> np.ndarray:
    """Accuracy of each of `episodes` seeded episodes."""
    if episodes < 1:
        raise ValueError(
            f"`episodes` must be at least 1. Received: episodes={episodes}"
        )
    features = np.asarray(features, np.float32)
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    accuracies = np.empty(episodes)
    for episode in range(episodes):
        support_idx, support_y, query_idx, query_y = sample_episode(
            labels, n_way, k_shot, n_query, rng
        )
        predictions = prototype_predict(
            features[support_idx], support_y, features[query_idx], n_way
        )
        accuracies[episode] = np.mean(predictions == query_y)
    return accuracies


@dataclasses.dataclass(frozen=True)
class FewShotOptions(base.ProtocolOptions):
    """Options of the `fewshot` protocol (and the shared ones).

    Args:
        n_way: Integer, classes per episode.
        k_shot: Integer, support examples per class.
        n_query: Integer, query examples per class.
        episodes: Integer, number of seeded episodes.
        split: `"test"` or `"train"` (the configured splits) or a split
            name; its features form the episode pool.
    """

    n_way: int = 5
    k_shot: int = 1
    n_query: int = 15
    episodes: int = 600
    split: str = "test"


def fewshot_eval(features, labels, options=FewShotOptions()) -> dict:
    """Mean N-way K-shot accuracy over seeded episodes.

    Args:
        features: `(n, d)` frozen embeddings of the evaluation pool.
        labels: `(n,)` integer labels.
        options: a `FewShotOptions`: the episode shape (`n_way`, `k_shot`,
            `n_query`), `episodes`, and `seed` (equal seeds give equal
            episodes).

    Returns:
        A dict with `mean`, `ci95` (`1.96 * std / sqrt(episodes)`, std
        with `ddof=0`), `std` and `episodes`.
    """
    episodes = options.episodes
    accuracies = episode_accuracies(
        features,
        labels,
        options.n_way,
        options.k_shot,
        options.n_query,
        episodes,
        options.seed,
    )
    std = float(np.std(accuracies))
    return {
        "mean": float(np.mean(accuracies)),
        "ci95": 1.96 * std / float(np.sqrt(episodes)),
        "std": std,
        "episodes": int(episodes),
    }


@base.register_protocol("fewshot", FewShotOptions)
def fewshot(context, options) -> base.ProtocolResult:
    """N-way K-shot episodes, nearest class prototype (cosine)."""
    pool = context.features(options.split)
    shape = {
        "n_way": options.n_way,
        "k_shot": options.k_shot,
        "n_query": options.n_query,
    }
    metrics = fewshot_eval(pool.features, pool.labels, options)
    metrics.update(shape)
    return context.result(
        metrics, base.sizes(pool=pool), pool.description, pool.description
    )
