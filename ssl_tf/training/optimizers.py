"""`build_optimizer(train_config, steps_per_epoch)` and its optimizer names.

`LARS` (`ssl_tf.training.lars`) and `CoupledSGD`
(`ssl_tf.training.coupled_sgd`) add L2 weight decay to the gradient, as
SimCLR and `torch.optim.SGD` do; their shared base is in
`ssl_tf.training.coupled_decay`. Both are re-exported here.
"""

import keras

from ssl_tf import config as config_lib
from ssl_tf.training import schedules
from ssl_tf.training.coupled_sgd import CoupledSGD
from ssl_tf.training.lars import LARS

__all__ = ["NO_DECAY_NAMES", "CoupledSGD", "LARS", "build_optimizer"]

# BatchNormalization (gamma, beta) and biases get neither weight decay nor
# layer adaptation, as in SimCLR. Matched as substrings of `variable.path`.
NO_DECAY_NAMES = ("batch_normalization", "gamma", "beta", "bias")


def build_optimizer(
    train_config: config_lib.TrainConfig, steps_per_epoch: int
) -> keras.optimizers.Optimizer:
    """Builds the optimizer and its warm-up + cosine schedule.

    The peak rate is `train_config.learning_rate` scaled with the global
    batch size (`lr_scaling`). Optimizer names:

    - `lars`: `LARS`, L2 decay added to the gradient (SimCLR).
    - `sgd`: `CoupledSGD`, L2 decay added to the gradient before the
      momentum (`torch.optim.SGD`).
    - `sgdw`: `keras.optimizers.SGD` with decoupled decay
      (`w -= lr * wd * w`).
    - `adamw`: `keras.optimizers.AdamW` (decoupled decay).
    - `adam`: `keras.optimizers.Adam`, no weight decay.

    Weight decay skips BatchNormalization parameters and biases; LARS also
    skips their layer adaptation.

    Args:
        train_config: `ssl_tf.config.TrainConfig`.
        steps_per_epoch: Integer. Optimizer steps in one epoch.

    Returns:
        A `keras.optimizers.Optimizer` driven by a `WarmupCosine` schedule.

    Raises:
        ValueError: for a non-positive `steps_per_epoch` or an unknown
            optimizer name.

    Example:
    >>> optimizer = build_optimizer(config_lib.TrainConfig(), 10)
    """
    if steps_per_epoch <= 0:
        raise ValueError(
            "`steps_per_epoch` must be positive. "
            f"Received: steps_per_epoch={steps_per_epoch}"
        )
    schedule = schedules.WarmupCosine(
        peak_learning_rate=schedules.scaled_learning_rate(
            train_config.learning_rate,
            train_config.batch_size,
            train_config.lr_scaling,
        ),
        total_steps=train_config.epochs * steps_per_epoch,
        warmup_steps=int(round(train_config.warmup_epochs * steps_per_epoch)),
    )
    name = train_config.optimizer
    weight_decay = float(train_config.weight_decay)
    no_decay = list(NO_DECAY_NAMES)
    if name == "lars":
        optimizer = LARS(
            learning_rate=schedule,
            momentum=float(train_config.momentum),
            weight_decay=weight_decay,
            exclude_from_adaptation=no_decay,
        )
    elif name == "sgd":
        optimizer = CoupledSGD(
            learning_rate=schedule,
            momentum=float(train_config.momentum),
            weight_decay=weight_decay,
        )
    elif name == "sgdw":
        optimizer = keras.optimizers.SGD(
            learning_rate=schedule,
            momentum=float(train_config.momentum),
            weight_decay=weight_decay or None,
        )
    elif name == "adamw":
        optimizer = keras.optimizers.AdamW(
            learning_rate=schedule, weight_decay=weight_decay
        )
    elif name == "adam":
        return keras.optimizers.Adam(learning_rate=schedule)
    else:
        raise ValueError(
            "`train_config.optimizer` must be one of ['adam', 'adamw', "
            f"'lars', 'sgd', 'sgdw']. Received: optimizer={name!r}"
        )
    optimizer.exclude_from_weight_decay(var_names=no_decay)
    return optimizer
