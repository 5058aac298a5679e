"""LARS, PyTorch-style SGD and `build_optimizer(train_config, steps_per_epoch)`.

Keras's own `weight_decay` is decoupled (`w -= lr * wd * w` next to the
update). SimCLR's LARS and `torch.optim.SGD` instead add `wd * w` to the
gradient (L2), so the decay goes through the momentum and, for LARS, the
trust ratio. Both classes here do that, and share the exclusions.
"""

import keras
from keras import ops

from ssl_tf import config as config_lib
from ssl_tf.training import schedules

# BatchNormalization (gamma, beta) and biases get neither weight decay nor
# layer adaptation, as in SimCLR. Matched as substrings of `variable.path`.
NO_DECAY_NAMES = ("batch_normalization", "gamma", "beta", "bias")


def _matches(variable, names):
    path = getattr(variable, "path", None) or variable.name
    return any(name in path for name in names)


class _CoupledDecayOptimizer(keras.optimizers.Optimizer):
    """Base for momentum optimizers that add L2 weight decay to the gradient.

    The base class's decoupled decay is switched off (`self.weight_decay`
    stays `None`) so decay is applied once; the coefficient is kept in
    `weight_decay_rate`, and subclasses add it in `update_step` with
    `self._with_weight_decay(gradient, variable, index)`.

    Variables are excluded with the usual Keras call,
    `optimizer.exclude_from_weight_decay(var_list=..., var_names=...)`,
    before the optimizer is built. Names are matched as substrings of
    `variable.path` (e.g. `"batch_normalization/gamma"`).

    Args:
        learning_rate: As for `keras.optimizers.Optimizer`.
        momentum: Float in `[0, 1]`.
        weight_decay: Float >= 0 (or `None`, meaning 0). L2 coefficient
            added to the gradient.
        nesterov: Boolean. Whether to use Nesterov momentum.
        name: String. The name of the optimizer.
        **kwargs: Other base optimizer arguments.
    """

    def __init__(
        self, learning_rate, momentum, weight_decay, nesterov, name, **kwargs
    ):
        # weight_decay=None: decay goes into the gradient in `update_step`,
        # the base class must not decay the variables a second time.
        super().__init__(
            learning_rate=learning_rate, weight_decay=None, name=name, **kwargs
        )
        if weight_decay is None:
            weight_decay = 0.0
        if weight_decay < 0:
            raise ValueError(
                "`weight_decay` must be non-negative. "
                f"Received: weight_decay={weight_decay}"
            )
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(
                "`momentum` must be a float between [0, 1]. "
                f"Received: momentum={momentum}"
            )
        self.weight_decay_rate = float(weight_decay)
        self.momentum = float(momentum)
        self.nesterov = nesterov
        self._no_decay_ids = set()
        self._no_decay_names = []

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        # The base method only configures the (disabled) decoupled decay, so
        # the exclusions are also recorded for `build`.
        super().exclude_from_weight_decay(
            var_list=var_list, var_names=var_names
        )
        self._no_decay_ids = {id(v) for v in var_list or []}
        self._no_decay_names = list(var_names or [])

    def _use_decay(self, variable):
        return self.weight_decay_rate > 0 and not (
            id(variable) in self._no_decay_ids
            or _matches(variable, self._no_decay_names)
        )

    def build(self, var_list):
        super().build(var_list)
        # Decided here, on the `keras.Variable`s: `update_step` receives the
        # backend variables, which have no `path` (and under a distribution
        # strategy are per-replica copies).
        self._decay_flags = [self._use_decay(var) for var in var_list]

    def _with_weight_decay(self, gradient, variable, index):
        if not self._decay_flags[index]:
            return gradient
        weight_decay = ops.cast(self.weight_decay_rate, variable.dtype)
        return gradient + weight_decay * variable

    def get_config(self):
        return {
            **super().get_config(),
            "momentum": self.momentum,
            "weight_decay": self.weight_decay_rate,
            "nesterov": self.nesterov,
        }


@keras.saving.register_keras_serializable(package="ssl_tf")
class LARS(_CoupledDecayOptimizer):
    """Layer-wise Adaptive Rate Scaling with momentum and L2 weight decay.

    Follows `lars_optimizer.py` of SimCLR (classic momentum). For each
    variable `w` with gradient `g`:

    ```python
    g = g + weight_decay * w  # unless excluded from weight decay
    trust_ratio = trust_coefficient * norm(w) / norm(g)  # 1 if a norm is 0,
    # or if `w` is excluded from adaptation
    v = momentum * v + learning_rate * trust_ratio * g
    w = w - v  # nesterov: w - (momentum * v + learning_rate * trust_ratio * g)
    ```

    Weight decay is added to the gradient, so it is scaled by the trust
    ratio and the momentum like the gradient. The base class's decoupled
    decay is switched off (`self.weight_decay` stays `None`) so decay is
    applied once; the coefficient is kept in `weight_decay_rate`.

    Variables are excluded from weight decay with the usual Keras call,
    `optimizer.exclude_from_weight_decay(var_list=..., var_names=...)`,
    before the optimizer is built. Names are matched as substrings of
    `variable.path` (e.g. `"batch_normalization/gamma"`). `CoupledSGD`
    shares this machinery.

    Args:
        learning_rate: A float, a
            `keras.optimizers.schedules.LearningRateSchedule` instance, or a
            callable that takes no arguments and returns the value to use.
        momentum: Float in `[0, 1]`. Momentum of the velocity.
        weight_decay: Float >= 0. L2 coefficient added to the gradient.
        trust_coefficient: Positive float, the `eta` of the LARS paper.
        nesterov: Boolean. Whether to use Nesterov momentum.
        exclude_from_adaptation: List of name substrings; matching variables
            use a trust ratio of 1. `None` (as in SimCLR) reuses the names
            given to `exclude_from_weight_decay`.
        name: String. The name of the optimizer.
        **kwargs: Other base optimizer arguments (`clipnorm`, `use_ema`,
            `gradient_accumulation_steps`, ...).

    Reference:
     - [You et al., 2017](https://arxiv.org/abs/1708.03888)
     - [Chen et al., 2020](https://arxiv.org/abs/2002.05709)

    Example:
    >>> w = keras.Variable(np.ones((3, 2)), name="kernel")
    >>> optimizer = LARS(learning_rate=0.1, weight_decay=1e-6)
    >>> optimizer.apply([np.ones((3, 2))], [w])
    """

    def __init__(
        self,
        learning_rate=0.001,
        momentum=0.9,
        weight_decay=0.0,
        trust_coefficient=0.001,
        nesterov=False,
        exclude_from_adaptation=None,
        name="lars",
        **kwargs,
    ):
        super().__init__(
            learning_rate, momentum, weight_decay, nesterov, name, **kwargs
        )
        if trust_coefficient <= 0:
            raise ValueError(
                "`trust_coefficient` must be positive. "
                f"Received: trust_coefficient={trust_coefficient}"
            )
        self.trust_coefficient = float(trust_coefficient)
        self.exclude_from_adaptation = (
            None
            if exclude_from_adaptation is None
            else list(exclude_from_adaptation)
        )

    def _use_adaptation(self, variable):
        names = self.exclude_from_adaptation
        if names is None:
            names = self._no_decay_names
        return not _matches(variable, names)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self.momentums = [
            self.add_variable_from_reference(var, "momentum")
            for var in var_list
        ]
        # Decided on the `keras.Variable`s, as the decay flags in `super()`.
        self._adaptation_flags = [self._use_adaptation(var) for var in var_list]

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        learning_rate = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        index = self._get_variable_index(variable)
        velocity = self.momentums[index]
        momentum = ops.cast(self.momentum, dtype)

        gradient = self._with_weight_decay(gradient, variable, index)
        scaled_lr = learning_rate
        if self._adaptation_flags[index]:
            w_norm = ops.sqrt(ops.sum(ops.square(variable)))
            g_norm = ops.sqrt(ops.sum(ops.square(gradient)))
            # The safe denominator keeps the unused branch of `where` finite.
            ratio = (
                self.trust_coefficient
                * w_norm
                / ops.where(g_norm > 0, g_norm, ops.ones_like(g_norm))
            )
            trust_ratio = ops.where(
                ops.logical_and(w_norm > 0, g_norm > 0),
                ratio,
                ops.ones_like(ratio),
            )
            scaled_lr = learning_rate * trust_ratio

        step = scaled_lr * gradient
        self.assign(velocity, momentum * velocity + step)
        if self.nesterov:
            self.assign_sub(variable, momentum * velocity + step)
        else:
            self.assign_sub(variable, velocity)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "trust_coefficient": self.trust_coefficient,
                "exclude_from_adaptation": self.exclude_from_adaptation,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="ssl_tf")
class CoupledSGD(_CoupledDecayOptimizer):
    """SGD with momentum and L2 weight decay, as `torch.optim.SGD`.

    `keras.optimizers.SGD(weight_decay=...)` decouples the decay, and its
    velocity holds `learning_rate * gradient` sums. This follows PyTorch
    (dampening 0), so recipes that quote PyTorch weight decays and momentum
    carry over. For each variable `w` with gradient `g`:

    ```python
    g = g + weight_decay * w  # unless excluded from weight decay
    buf = momentum * buf + g  # buf starts at 0, so buf = g on step 1
    w = w - learning_rate * buf  # nesterov: w - lr * (g + momentum * buf)
    ```

    The buffer sums raw gradients and the learning rate is applied at the
    update, so under a schedule the steps equal PyTorch's, not Keras's.
    Exclusions from weight decay work as for `LARS`
    (`exclude_from_weight_decay`, name substrings of `variable.path`).

    Args:
        learning_rate: A float, a
            `keras.optimizers.schedules.LearningRateSchedule` instance, or a
            callable that takes no arguments and returns the value to use.
        momentum: Float in `[0, 1]`. 0 keeps no buffer (plain SGD).
        weight_decay: Float >= 0. L2 coefficient added to the gradient.
        nesterov: Boolean. Whether to use Nesterov momentum.
        name: String. The name of the optimizer.
        **kwargs: Other base optimizer arguments (`clipnorm`, `use_ema`,
            `gradient_accumulation_steps`, ...).

    Reference:
     - [PyTorch `torch.optim.SGD`](
       https://pytorch.org/docs/stable/generated/torch.optim.SGD.html)

    Example:
    >>> w = keras.Variable(np.ones((3, 2)), name="kernel")
    >>> optimizer = CoupledSGD(learning_rate=0.1, momentum=0.9,
    ...                        weight_decay=5e-4)
    >>> optimizer.apply([np.ones((3, 2))], [w])
    """

    def __init__(
        self,
        learning_rate=0.01,
        momentum=0.0,
        weight_decay=0.0,
        nesterov=False,
        name="coupled_sgd",
        **kwargs,
    ):
        super().__init__(
            learning_rate, momentum, weight_decay, nesterov, name, **kwargs
        )

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        # As keras.optimizers.SGD: no buffers without momentum.
        self.momentums = []
        if self.momentum != 0:
            self.momentums = [
                self.add_variable_from_reference(var, "momentum")
                for var in var_list
            ]

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        learning_rate = ops.cast(learning_rate, dtype)
        index = self._get_variable_index(variable)
        gradient = self._with_weight_decay(
            ops.cast(gradient, dtype), variable, index
        )
        if self.momentum == 0:
            self.assign_sub(variable, learning_rate * gradient)
            return
        buffer = self.momentums[index]
        momentum = ops.cast(self.momentum, dtype)
        self.assign(buffer, momentum * buffer + gradient)
        if self.nesterov:
            step = gradient + momentum * buffer
        else:
            step = buffer
        self.assign_sub(variable, learning_rate * step)


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
