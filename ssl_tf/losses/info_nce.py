"""InfoNCE with an explicit set of negatives (MoCo's queue)."""

import keras
import tensorflow as tf

from ssl_tf.losses.base import TemperatureLoss


def info_nce_logits(queries, keys, negatives, temperature):
    """Logits of InfoNCE: the positive key in column 0, then the negatives.

    Queries, keys and negatives are L2-normalized first (a no-op for
    embeddings that already are, like the keys in MoCo's queue).

    Args:
        queries: `(n, d)` query embeddings.
        keys: `(n, d)` positive keys; row `i` is the positive of query `i`.
        negatives: `(K, d)` negative keys shared by every query.
        temperature: Float > 0.

    Returns:
        `(logits, labels)`: logits of shape `(n, 1 + K)` and int32 labels,
        all 0 (the column of the positive).
    """
    queries = tf.math.l2_normalize(tf.cast(queries, tf.float32), axis=1)
    keys = tf.math.l2_normalize(tf.cast(keys, tf.float32), axis=1)
    negatives = tf.math.l2_normalize(tf.cast(negatives, tf.float32), axis=1)
    positive = tf.reduce_sum(queries * keys, axis=1, keepdims=True)
    negative = tf.matmul(queries, negatives, transpose_b=True)
    logits = tf.concat([positive, negative], axis=1) / temperature
    labels = tf.zeros(tf.shape(queries)[:1], tf.int32)
    return logits, labels


def info_nce(queries, keys, negatives, temperature):
    """InfoNCE of each query, with the logits it was taken from.

    As simclr's `add_contrastive_loss`, the loss comes with its logits and
    labels, so a metric (`top1_hits`) reuses them instead of a second pass.

    Returns:
        `(per_query, logits, labels)`: float32 `(n,)` losses and the
        logits and labels of `info_nce_logits`.
    """
    logits, labels = info_nce_logits(queries, keys, negatives, temperature)
    per_query = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
    return per_query, logits, labels


@keras.saving.register_keras_serializable(package="ssl_tf")
class InfoNCE(TemperatureLoss):
    """InfoNCE: cross-entropy of picking the positive key among negatives.

    `loss(queries, (keys, negatives))`: for query `q_i` with positive key
    `k_i` and negatives `n_1..n_K`, all L2-normalized,

    ```
    pos_i = exp(q_i . k_i / T)
    loss_i = -log(pos_i / (pos_i + sum_j exp(q_i . n_j / T)))
    ```

    `call` returns the per-query values, so the default
    `"sum_over_batch_size"` reduction averages them and, under
    `tf.distribute`, divides by the replica count. Negatives are used as
    given (MoCo passes its queue, which every replica holds in full).

    Args:
        temperature: Float > 0. Softmax temperature `T`.

    Example:
    >>> InfoNCE(0.2)(np.eye(2, 4), (np.eye(2, 4), np.eye(4)[2:]))

    Reference:
     - [Oord et al., 2018](https://arxiv.org/abs/1807.03748)
     - [He et al., 2020](https://arxiv.org/abs/1911.05722) (MoCo)
    """

    def __init__(self, temperature=0.2, name="info_nce", **kwargs):
        super().__init__(temperature, name=name, **kwargs)

    def call(self, queries, keys_and_negatives):
        keys, negatives = keys_and_negatives
        return info_nce(queries, keys, negatives, self.temperature)[0]
