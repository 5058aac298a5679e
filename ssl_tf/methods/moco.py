"""MoCo v2: momentum contrast with a queue of negative keys."""

import dataclasses
import threading

import keras
import tensorflow as tf

from ssl_tf import losses
from ssl_tf.config import ConfigError, check_choice
from ssl_tf.methods import base, ema, shuffle_bn
from ssl_tf.methods.base import MethodConfig, SSLModel, register_method
from ssl_tf.methods.key_queue import enqueue, random_unit_rows

BN_MODES = ("shuffle", "sync")


@dataclasses.dataclass(frozen=True)
class MoCoConfig(MethodConfig):
    """MoCo v2 options.

    Args:
        temperature: InfoNCE temperature T (> 0).
        queue_size: number K of negative keys kept; a multiple of
            `train.batch_size`, so the queue pointer wraps to 0 exactly.
        momentum: EMA coefficient m of the key encoder,
            `key <- m * key + (1 - m) * query`, in [0, 1].
        momentum_schedule: `constant` (m throughout) or `cosine` (m rises
            to 1 along half a cosine, as in BYOL:
            `1 - (1 - m) * (cos(pi * k / total_steps) + 1) / 2` after k
            optimizer steps).
        total_steps: length of the cosine momentum schedule in optimizer
            steps (`train.epochs` x steps per epoch); required for
            `cosine`, unused for `constant`.
        projection_dims: units of the MoCo v2 MLP head (hidden layers with
            BN and ReLU, last layer a plain Dense).
        bn_mode: `shuffle` (default) or `sync`; see `MoCo`.
        bn_splits: number of BatchNorm groups in `shuffle` mode; the
            global batch must divide evenly.
    """

    temperature: float = 0.2
    queue_size: int = 4096
    momentum: float = 0.99
    momentum_schedule: str = "constant"
    total_steps: int | None = None
    projection_dims: tuple[int, ...] = (512, 128)
    bn_mode: str = "shuffle"
    bn_splits: int = 4

    def validate(self, experiment):
        batch_size = experiment.train.batch_size
        base.check_temperature(self.temperature)
        ema.check_momentum(self)
        if self.queue_size < 1 or self.queue_size % batch_size:
            raise ConfigError(
                "`queue_size` must be a positive multiple of "
                f"`train.batch_size` ({batch_size}). "
                f"Received: queue_size={self.queue_size}"
            )
        base.check_projection_dims(self.projection_dims)
        check_choice("bn_mode", self.bn_mode, BN_MODES)
        if self.bn_splits < 1 or batch_size % self.bn_splits:
            raise ConfigError(
                "`bn_splits` must be a positive divisor of `train.batch_size` "
                f"({batch_size}). Received: bn_splits={self.bn_splits}"
            )
        if self.bn_mode == "shuffle" and batch_size < 2 * self.bn_splits:
            raise ConfigError(
                "With bn_mode='shuffle', every BN group needs at least 2 "
                f"images: `bn_splits` must be <= {batch_size // 2} "
                "(`train.batch_size` / 2). "
                f"Received: bn_splits={self.bn_splits}"
            )


@register_method("moco", config_cls=MoCoConfig)
class MoCo(ema.MomentumTarget, SSLModel):
    """MoCo v2: a momentum key encoder and a queue of negatives.

    The query encoder is `encoder` followed by the MoCo v2 MLP head; the
    key encoder is a copy of both (same initial weights), not trained by
    the optimizer: after every step, `after_train_step` moves it towards
    the query encoder, `key <- m * key + (1 - m) * query` (trainable
    weights only; the key encoder's BN statistics come from its own
    forward passes), then pushes the step's keys into the queue. View 1
    gives the queries, view 2 the keys (under `stop_gradient`). The loss is
    InfoNCE with the positive key against the K queued keys.

    The queue holds L2-normalized keys of the global batch (gathered across
    replicas), so every replica's copy is identical; it and its pointer use
    `aggregation="only_first_replica"`. The key encoder and queue are model
    variables, so checkpoints of the model include them.

    BatchNorm leak. A query and its positive key, computed in one batch,
    share that batch's BN statistics, which the queued negatives (from
    earlier batches) lack: the model can learn to match statistics instead
    of content (MoCo, section 3.3). MoCo breaks the link with per-GPU BN and
    a shuffle of the keys across GPUs. Our BN layers are synchronized across
    replicas, so there are no per-device statistics to use; instead
    `bn_mode="shuffle"` (the default, on one device or many) simulates
    `bn_splits` GPUs: in training, queries are normalized in `bn_splits`
    groups of consecutive rows of the global batch, keys in `bn_splits`
    groups of a seeded random shuffle of it (rows are put back in order
    afterwards), so a query and its key see different statistics. Groups
    are defined on the global batch and joined across replicas by the
    synchronized BN, so a step gives the same result on any number of
    replicas. Each group's BN call updates the moving statistics once.
    `bn_mode="sync"` encodes each view in one pass with global BN (SyncBN,
    as in later MoCo versions); it is cheaper but keeps the shared
    statistics.

    Metrics: `loss`, `contrastive_accuracy` (the positive key scores
    highest), `momentum` (the EMA coefficient used) and `learning_rate`.

    Reference:
     - [He et al., 2020](https://arxiv.org/abs/1911.05722) (MoCo)
     - [Chen et al., 2020](https://arxiv.org/abs/2003.04297) (MoCo v2)
     - [Grill et al., 2020](https://arxiv.org/abs/2006.07733) (cosine
       momentum schedule, BYOL)
    """

    # For the shared 2-replica test (smoke batch 8): 4 groups would leave
    # one image per group on each replica; BN over 2-image groups turns
    # float rounding into differences above the test's tolerance (and made
    # oneDNN abort on CPU). 2 groups test the same code path.
    replica_equivalence_options = {"bn_splits": 2}
    momentum_pairs = (
        ("encoder", "key_encoder"),
        ("projector", "key_projector"),
    )

    def __init__(self, encoder, config, **kwargs):
        kwargs.setdefault("name", "moco")
        super().__init__(encoder=encoder, config=config, **kwargs)
        units = tuple(config.projection_dims)
        self.build_projector_and_target(units)
        self.queue = self.add_weight(
            shape=(config.queue_size, units[-1]),
            initializer=random_unit_rows(self.seed),
            trainable=False,
            # Every replica writes the same global keys.
            aggregation="only_first_replica",
            name="queue",
        )
        self.queue_pointer = self.add_weight(
            shape=(),
            dtype="int32",
            initializer="zeros",
            trainable=False,
            aggregation="only_first_replica",
            name="queue_pointer",
        )
        self.contrastive_accuracy = keras.metrics.Mean("contrastive_accuracy")
        self.momentum_tracker = keras.metrics.Mean("momentum")
        # The step's keys, from `compute_ssl_loss` to `after_train_step`.
        # Thread-local: MirroredStrategy traces each replica in its own
        # thread, on this one model object.
        self._pending = threading.local()

    make_views = staticmethod(base.simclr_views)

    def shuffled_groups(self, total):
        """BN group of each global key row: a seeded shuffle of the batch.

        A random order per aligned block of `bn_splits` rows, drawn from
        the model seed and the optimizer step. Query row `i` is in group
        `i % bn_splits`, so a key's group is a random other set of images
        than its query's, as after MoCo's shuffle across GPUs, and every
        replica holds the same number of rows of each group.
        """
        return shuffle_bn.shuffled_groups(
            total, self.method_config.bn_splits, self.seed, self._step()
        )

    def _groups(self, images, training, global_groups=None):
        """The local rows' BN groups in shuffle-mode training, else `None`."""
        config = self.method_config
        if training and config.bn_mode == "shuffle" and config.bn_splits > 1:
            return shuffle_bn.local_groups(
                tf.shape(images)[0], config.bn_splits, global_groups
            )
        return None

    def compute_keys(self, images, training):
        """L2-normalized keys of `images` from the key encoder (no gradient).

        In training with `bn_mode="shuffle"`, the BN groups are a seeded
        shuffle of the global batch (`shuffled_groups`).
        """
        keys = shuffle_bn.project(
            self.key_encoder,
            self.key_projector,
            images,
            training,
            self._groups(images, training, self.shuffled_groups),
            self.method_config.bn_splits,
        )
        keys = tf.math.l2_normalize(tf.cast(keys, tf.float32), axis=1)
        # stop_gradient: the key encoder follows the query encoder by EMA
        # only.
        return tf.stop_gradient(keys)

    def compute_queries(self, images, training):
        """Query projections; in shuffle mode row i is in BN group i % G."""
        return shuffle_bn.project(
            self.encoder,
            self.projector,
            images,
            training,
            self._groups(images, training),
            self.method_config.bn_splits,
        )

    def compute_ssl_loss(self, inputs, training):
        config = self.method_config
        queries = self.compute_queries(inputs["view_1"], training)
        keys = self.compute_keys(inputs["view_2"], training)
        # Handed to `after_train_step`, which enqueues the keys of this step.
        self._pending.keys = keys
        negatives = tf.convert_to_tensor(self.queue)
        # The logits serve the loss and the metric.
        per_query, logits, labels = losses.info_nce(
            queries, keys, negatives, config.temperature
        )
        self.contrastive_accuracy.update_state(losses.top1_hits(logits, labels))
        return losses.global_batch_mean(per_query)

    # MoCo's name for the shared EMA update.
    update_key_encoder = ema.MomentumTarget.update_target

    def after_train_step(self, inputs):
        momentum = self.current_momentum()
        self.update_target(momentum)
        self.momentum_tracker.update_state(momentum)
        keys = getattr(self._pending, "keys", None)
        if keys is None:  # called without `compute_ssl_loss` first
            keys = self.compute_keys(inputs["view_2"], training=True)
        self._pending.keys = None
        # The queue takes the keys of the global batch: all_gather, so every
        # replica enqueues the same rows.
        keys, _ = losses.gather_across_replicas(keys)
        enqueue(self.queue, self.queue_pointer, keys)
