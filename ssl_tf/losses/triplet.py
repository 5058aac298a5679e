"""Triplet margin loss on cosine similarity, with in-batch negative mining."""

import keras
import tensorflow as tf

from ssl_tf.losses.nt_xent import gather_across_replicas

MINING = ("random", "hardest", "semihard")
_LARGE = 1e9


def random_negative_indices(batch_size, seed=0):
    """For each of `batch_size` anchors, a uniform index among the others.

    Stateless: the same `(batch_size, seed)` always gives the same indices.

    Args:
        batch_size: Integer (or scalar tensor) N >= 2.
        seed: Integer, or an int32 `(2,)` stateless seed.

    Returns:
        int32 `(N,)`: entry `i` is in `[0, N)` and never equals `i`.
    """
    seed = tf.convert_to_tensor(seed, tf.int32)
    if seed.shape.rank == 0:
        seed = tf.stack([seed, tf.constant(0x7219, tf.int32)])
    n = tf.convert_to_tensor(batch_size, tf.int32)
    uniform = tf.random.stateless_uniform(tf.reshape(n, [1]), seed=seed)
    others = tf.cast(n - 1, tf.float32)
    # A shift in [1, N - 1] skips the anchor itself.
    shift = 1 + tf.minimum(
        tf.cast(tf.floor(uniform * others), tf.int32), tf.maximum(n - 2, 0)
    )
    return tf.math.floormod(tf.range(n) + shift, n)


def triplet_losses(anchors, positives, margin, mining="semihard", seed=0):
    """Per-anchor triplet losses `max(0, margin - sim(a, p) + sim(a, n))`.

    Embeddings are L2-normalized and compared by cosine similarity; with
    the cosine distance `d = 1 - sim` this is `max(0, margin + d(a, p) -
    d(a, n))`. The positive of anchor `i` is `positives[i]`; its negatives
    are the positives of every other image in the global batch (gathered
    across replicas, differentiably). The negative `n` is picked by
    `mining`:

    - `"random"`: uniform among the others (`random_negative_indices`
      with `seed`; deterministic for a given seed and batch size).
    - `"hardest"`: the most similar negative.
    - `"semihard"` (FaceNet): the most similar negative that is still less
      similar than the positive, `sim(a, n) < sim(a, p)`. If there is none
      (every negative is harder than the positive), the least similar
      negative is used, as in TF Addons' `triplet_semihard_loss`.

    Args:
        anchors: `(n, d)` anchor embeddings (view 1).
        positives: `(n, d)` positive embeddings (view 2).
        margin: Float. The margin `m`.
        mining: One of `"random"`, `"hardest"`, `"semihard"`.
        seed: Integer seed of the random mining.

    Returns:
        float32 `(n,)` losses, one per local anchor.
    """
    anchors = tf.math.l2_normalize(tf.cast(anchors, tf.float32), axis=1)
    positives = tf.math.l2_normalize(tf.cast(positives, tf.float32), axis=1)
    # Negatives come from every replica: all_gather, as in SimCLR.
    all_positives, offset = gather_across_replicas(positives)
    n = tf.shape(anchors)[0]
    total = tf.shape(all_positives)[0]
    rows = tf.range(n) + offset
    similarities = tf.matmul(anchors, all_positives, transpose_b=True)
    positive = tf.reduce_sum(anchors * positives, axis=1)
    is_negative = tf.logical_not(tf.cast(tf.one_hot(rows, total), tf.bool))
    if mining == "hardest":
        negative = tf.reduce_max(
            tf.where(is_negative, similarities, -_LARGE), axis=1
        )
    elif mining == "semihard":
        easier = is_negative & (similarities < positive[:, None])
        semihard = tf.reduce_max(
            tf.where(easier, similarities, -_LARGE), axis=1
        )
        easiest = tf.reduce_min(
            tf.where(is_negative, similarities, _LARGE), axis=1
        )
        negative = tf.where(tf.reduce_any(easier, axis=1), semihard, easiest)
    elif mining == "random":
        columns = random_negative_indices(total, seed)[offset : offset + n]
        negative = tf.gather(similarities, columns, batch_dims=1)
    else:
        raise ValueError(
            f"`mining` must be one of {list(MINING)}. Received: "
            f"mining={mining!r}"
        )
    return tf.nn.relu(margin - positive + negative)


@keras.saving.register_keras_serializable(package="ssl_tf")
class TripletLoss(keras.losses.Loss):
    """Triplet margin loss with in-batch negatives: `loss(anchors, positives)`.

    The loss of anchor `a` is `max(0, m + d(a, p) - d(a, n))` with cosine
    distance `d = 1 - cos`; see `triplet_losses` for how `n` is mined.
    `call` returns per-anchor values, so the `"sum_over_batch_size"`
    reduction averages them and scales for the replica count.

    Args:
        margin: Float >= 0. The margin `m` (in cosine distance, range
            `[0, 2]`).
        mining: `"random"`, `"hardest"` or `"semihard"`.
        seed: Integer seed of the random mining.

    Example:
    >>> TripletLoss(0.2, "hardest")(np.eye(3, 4), np.eye(3, 4))

    Reference:
     - [Schroff et al., 2015](https://arxiv.org/abs/1503.03832) (FaceNet)
     - [Hoffer & Ailon, 2015](https://arxiv.org/abs/1412.6622)
    """

    def __init__(
        self, margin=0.2, mining="semihard", seed=0, name="triplet", **kwargs
    ):
        super().__init__(name=name, **kwargs)
        if margin < 0:
            raise ValueError(
                f"`margin` must be >= 0. Received: margin={margin}"
            )
        if mining not in MINING:
            raise ValueError(
                f"`mining` must be one of {list(MINING)}. Received: "
                f"mining={mining!r}"
            )
        self.margin = margin
        self.mining = mining
        self.seed = seed

    def call(self, anchors, positives):
        return triplet_losses(
            anchors, positives, self.margin, self.mining, self.seed
        )

    def get_config(self):
        return {
            **super().get_config(),
            "margin": self.margin,
            "mining": self.mining,
            "seed": self.seed,
        }
