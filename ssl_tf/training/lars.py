"""LARS: layer-wise adaptive rate scaling, as SimCLR's `lars_optimizer.py`."""

import keras
from keras import ops

from ssl_tf.training.coupled_decay import CoupledDecayOptimizer, path_matches


@keras.saving.register_keras_serializable(package="ssl_tf")
class LARS(CoupledDecayOptimizer):
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
        trust_coefficient: Positive float, the `eta` of the LARS paper.
        exclude_from_adaptation: List of name substrings; matching variables
            use a trust ratio of 1. `None` (as in SimCLR) reuses the names
            given to `exclude_from_weight_decay`.
        **kwargs: `weight_decay` (float >= 0, default 0: the L2 coefficient
            added to the gradient), `nesterov` (default False), `name`
            (default `"lars"`) and the base optimizer's arguments
            (`clipnorm`, `use_ema`, `gradient_accumulation_steps`, ...).

    Reference:
     - [You et al., 2017](https://arxiv.org/abs/1708.03888)
     - [Chen et al., 2020](https://arxiv.org/abs/2002.05709)

    Example:
    >>> w = keras.Variable(np.ones((3, 2)), name="kernel")
    >>> optimizer = LARS(learning_rate=0.1, weight_decay=1e-6)
    >>> optimizer.apply([np.ones((3, 2))], [w])
    """

    default_name = "lars"

    def __init__(
        self,
        learning_rate=0.001,
        momentum=0.9,
        *,
        trust_coefficient=0.001,
        exclude_from_adaptation=None,
        **kwargs,
    ):
        # `weight_decay`, `nesterov` and `name` keep the base's defaults
        # (0, False, "lars"), so they pass through `kwargs`.
        super().__init__(
            learning_rate=learning_rate, momentum=momentum, **kwargs
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
        return not path_matches(variable, names)

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
