"""The momentum (EMA) copy of an online network: MoCo's keys, BYOL's target.

`MomentumTarget` is the block both methods share: the pairs of online and
target weights, the copy at construction, the EMA coefficient with its
optional cosine schedule (BYOL's) and the EMA update itself. It registers
no method.
"""

import math

import keras
import tensorflow as tf

from ssl_tf.config import ConfigError, check_choice
from ssl_tf.models.heads import ProjectionHead

MOMENTUM_SCHEDULES = ("constant", "cosine")


def check_momentum(config, total_steps_required=True) -> None:
    """Raises `ConfigError` for a bad `momentum`, schedule or `total_steps`.

    Args:
        config: a method config with `momentum`, `momentum_schedule` and
            `total_steps`.
        total_steps_required: whether the cosine schedule needs an explicit
            `total_steps`; `False` lets `None` mean the run's length.
    """
    if not 0 <= config.momentum <= 1:
        raise ConfigError(
            "`momentum` must be in [0, 1]. "
            f"Received: momentum={config.momentum}"
        )
    check_choice(
        "momentum_schedule", config.momentum_schedule, MOMENTUM_SCHEDULES
    )
    total = config.total_steps
    missing = total is None and (
        total_steps_required and config.momentum_schedule == "cosine"
    )
    if missing or (total is not None and total < 1):
        raise ConfigError(
            "`total_steps` must be a positive number of optimizer steps "
            "when momentum_schedule='cosine'. "
            f"Received: total_steps={total}"
        )


def cosine_momentum(base, step, total_steps):
    """BYOL's `1 - (1 - base) * (cos(pi * k / K) + 1) / 2`, 1 after K."""
    progress = tf.minimum(tf.cast(step, tf.float32) / float(total_steps), 1.0)
    return 1.0 - (1.0 - base) * (tf.cos(math.pi * progress) + 1.0) / 2.0


def schedule_length(optimizer):
    """The optimizer's learning-rate schedule length (`total_steps`).

    `build_optimizer` sets it to `train.epochs` x steps per epoch, so a
    momentum schedule ending there ends with the run. `None` for an
    optimizer without such a schedule.
    """
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)
    learning_rate = optimizer.get_config().get("learning_rate")
    if isinstance(learning_rate, dict):
        return learning_rate.get("config", {}).get("total_steps")
    return None


class MomentumTarget:
    """Mixin for an `SSLModel` with an EMA copy of some of its layers.

    The subclass names its pairs of layers in `momentum_pairs` (online
    attribute, target attribute): `(("encoder", target encoder),
    ("projector", target projector))`. `build_projector_and_target`
    creates the projector and the target, which starts as a copy and is
    out of the optimizer's reach. Its config has
    `momentum` (the EMA coefficient m, or BYOL's tau_base),
    `momentum_schedule` and `total_steps` (`None`: the learning-rate
    schedule's length). After each step, `update_target(
    current_momentum())` moves every trainable target weight by
    `target <- m * target + (1 - m) * online`. The target's BN statistics
    come from its own forward passes.

    Every replica computes the same update from the same mirrored online
    weights, so the target stays identical across replicas; the target
    weights are model variables, so checkpoints include them.
    """

    momentum_pairs = ()

    def _weight_pairs(self):
        online, target = [], []
        for online_name, target_name in self.momentum_pairs:
            online += getattr(self, online_name).weights
            target += getattr(self, target_name).weights
        if len(online) != len(target):
            raise ValueError(
                f"The momentum target has {len(target)} weights, the online "
                f"network {len(online)}."
            )
        return list(zip(online, target, strict=True))

    def build_projector_and_target(self, units):
        """Creates `projector` and the target encoder and projector.

        The projector is MoCo v2's and BYOL's MLP (hidden layers with BN
        and ReLU, a plain Dense last); the target encoder is a clone of
        `encoder`, the target projector a projector of the same shape. The
        target attributes are the names in `momentum_pairs`.

        Args:
            units: the projector's layer sizes.
        """
        (_, encoder_name), (_, projector_name) = self.momentum_pairs
        embedding = (None, int(self.encoder.outputs[0].shape[-1]))
        self.projector = ProjectionHead(
            units, final_batch_norm=False, seed=self.seed, name="projector"
        )
        self.projector.build(embedding)
        setattr(self, encoder_name, keras.models.clone_model(self.encoder))
        target = ProjectionHead(
            units, final_batch_norm=False, name=projector_name
        )
        target.build(embedding)
        setattr(self, projector_name, target)
        self.init_momentum_target()

    def init_momentum_target(self):
        """Copies the online weights into the target; freezes the target."""
        for online, target in self._weight_pairs():
            if tuple(online.shape) != tuple(target.shape):
                raise ValueError(
                    "The momentum target does not match the online network: "
                    f"{online.path} has shape {online.shape}, {target.path} "
                    f"has shape {target.shape}."
                )
            target.assign(online)
            # Out of the optimizer's reach; the layers stay trainable so
            # BN still normalizes with batch statistics in training.
            target.trainable = False

    def _step(self):
        optimizer = getattr(self, "optimizer", None)
        if optimizer is None:  # not compiled yet
            return tf.constant(0, tf.int64)
        return tf.cast(optimizer.iterations, tf.int64)

    def current_momentum(self):
        """The EMA coefficient m for the step just taken."""
        config = self.method_config
        start = tf.constant(config.momentum, tf.float32)
        if config.momentum_schedule == "constant":
            return start
        total = config.total_steps or schedule_length(self.optimizer)
        if not total:
            raise ValueError(
                "The cosine momentum schedule needs `total_steps`: set it, "
                "or use an optimizer with a learning-rate schedule that has "
                "`total_steps`."
            )
        return cosine_momentum(start, self._step(), total)

    def update_target(self, momentum):
        """`target <- m * target + (1 - m) * online`, trainable weights."""
        for online, target in self._weight_pairs():
            if online.trainable:
                m = tf.cast(momentum, target.dtype)
                target.assign(m * target + (1.0 - m) * online)
