"""Shuffle BN for MoCo: BatchNorm statistics per group of the global batch.

A query and its positive key share their batch's BN statistics, which the
queued negatives lack (MoCo, section 3.3). These functions split a batch
into `count` BN groups, defined on the global batch so that a step gives
the same result on any number of replicas (`MoCo` explains the design).
"""

import tensorflow as tf

from ssl_tf import augment
from ssl_tf.augment import seeding


def global_batch(n):
    """`(global size, offset of this replica's rows, replicas)`."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return n, 0, 1
    replicas = context.num_replicas_in_sync
    replica = tf.cast(context.replica_id_in_sync_group, tf.int32)
    return n * replicas, replica * n, replicas


def shuffled_groups(total, count, seed, step):
    """BN group of each of `total` global rows: a seeded shuffle.

    Each aligned block of `count` consecutive rows sends one row to every
    group, in a random order drawn from `seed` and the optimizer `step`
    (the same on every replica).
    """
    seed = tf.random.experimental.stateless_fold_in(
        augment.batch_seed(seed, step), 0x5F1E, alg=seeding.ALGORITHM
    )
    blocks = (total + count - 1) // count
    noise = seeding.stateless_uniform(tf.stack([blocks, count]), seed)
    return tf.reshape(tf.argsort(noise, axis=1), [-1])[:total]


def local_groups(n, count, global_groups=None):
    """BN groups of this replica's `n` rows.

    Args:
        n: local batch size.
        count: number of groups.
        global_groups: `total -> (total,)` groups of the global rows;
            `None`: row `i` of the global batch is in group `i % count`.
    """
    total, offset, replicas = global_batch(n)
    if replicas > 1:
        # SyncBN joins each group across replicas; a replica without
        # rows of a group would desynchronize the collectives.
        tf.debugging.assert_equal(
            tf.math.floormod(n, count),
            0,
            message="With bn_mode='shuffle' on several replicas, the "
            "per-replica batch must be a multiple of `bn_splits`.",
        )
    if global_groups is None:
        return tf.math.floormod(tf.range(n) + offset, count)
    return global_groups(total)[offset : offset + n]


def project(encoder, projector, images, training, groups=None, count=1):
    """`projector(encoder(images))`, with BN statistics per group if given.

    `groups` holds the BN group (of `count`) of every local row; each group
    is run through the network separately (across replicas the
    synchronized BN joins each group's rows, however they are spread),
    then the rows are put back in their order.
    """
    if groups is None:
        return projector(encoder(images, training=training), training=training)
    rows = tf.dynamic_partition(tf.range(tf.shape(images)[0]), groups, count)
    parts = tf.dynamic_partition(images, groups, count)
    outputs = [
        projector(encoder(part, training=training), training=training)
        for part in parts
    ]
    return tf.dynamic_stitch(rows, outputs)
