"""NT-Xent, the normalized temperature-scaled cross-entropy of SimCLR."""

import keras
import tensorflow as tf

from ssl_tf.losses.base import TemperatureLoss

_LARGE = 1e9


def gather_across_replicas(tensor):
    """Concatenates `tensor` from all replicas along axis 0.

    Returns `(gathered, offset)`, where `offset` is where this replica's
    rows start. Like simclr's `tpu_cross_replica_concat`, the gather is
    differentiable, so negatives from other replicas get gradients.
    """
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return tensor, 0
    gathered = context.all_gather(tensor, axis=0)
    replica = tf.cast(context.replica_id_in_sync_group, tf.int32)
    return gathered, replica * tf.shape(tensor)[0]


def nt_xent_logits(z_1, z_2, temperature):
    """Logits and labels of NT-Xent for the local anchors.

    Each anchor of view 1 is scored against every view-2 embedding (its
    positive among them) and every other view-1 embedding of the global
    batch, and symmetrically for view 2.

    Returns:
        `(logits_1, logits_2, labels)`: logits of shape `(n, 2N)` and the
        column of the positive, for local batch n and global batch N.
    """
    z_1 = tf.math.l2_normalize(tf.cast(z_1, tf.float32), axis=1)
    z_2 = tf.math.l2_normalize(tf.cast(z_2, tf.float32), axis=1)
    # Negatives come from every replica: all_gather, as in SimCLR.
    all_1, offset = gather_across_replicas(z_1)
    all_2, _ = gather_across_replicas(z_2)
    n = tf.shape(z_1)[0]
    labels = tf.range(n) + offset
    self_mask = tf.one_hot(labels, tf.shape(all_1)[0]) * _LARGE
    logits_12 = tf.matmul(z_1, all_2, transpose_b=True) / temperature
    logits_11 = tf.matmul(z_1, all_1, transpose_b=True) / temperature
    logits_21 = tf.matmul(z_2, all_1, transpose_b=True) / temperature
    logits_22 = tf.matmul(z_2, all_2, transpose_b=True) / temperature
    logits_1 = tf.concat([logits_12, logits_11 - self_mask], axis=1)
    logits_2 = tf.concat([logits_21, logits_22 - self_mask], axis=1)
    return logits_1, logits_2, labels


def nt_xent(z_1, z_2, temperature):
    """NT-Xent of each local anchor pair, with the logits it was taken from.

    As simclr's `add_contrastive_loss`, the loss comes with its logits and
    labels, so a metric (`top1_hits`) reuses them instead of a second pass.
    Each pair's value is the mean of the two views' cross-entropies of
    picking the positive.

    Returns:
        `(per_anchor, logits_1, labels)`: float32 `(n,)` losses and view
        1's logits and labels (see `nt_xent_logits`).
    """
    logits_1, logits_2, labels = nt_xent_logits(z_1, z_2, temperature)
    loss_1 = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits_1)
    loss_2 = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits_2)
    return (loss_1 + loss_2) / 2.0, logits_1, labels


@keras.saving.register_keras_serializable(package="ssl_tf")
class NTXent(TemperatureLoss):
    """NT-Xent loss over two batches of projections `z_1`, `z_2`.

    `loss(z_1, z_2)` averages, over all 2N anchors, the cross-entropy of
    picking the anchor's other view among the 2N - 1 other embeddings.
    Under `tf.distribute`, negatives are gathered from all replicas.

    Args:
        temperature: Float > 0. Softmax temperature.

    Example:
    >>> NTXent(0.5)(np.eye(4, 8), np.eye(4, 8))

    Reference:
     - [Chen et al., 2020](https://arxiv.org/abs/2002.05709)
    """

    def __init__(self, temperature=0.1, name="nt_xent", **kwargs):
        super().__init__(temperature, name=name, **kwargs)

    def call(self, z_1, z_2):
        # Per-example values of shape (n,): the "sum_over_batch_size"
        # reduction then averages them and scales for the replica count.
        return nt_xent(z_1, z_2, self.temperature)[0]
