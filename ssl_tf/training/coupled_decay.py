"""The base of `LARS` and `CoupledSGD`: L2 weight decay added to the gradient.

Keras's own `weight_decay` is decoupled (`w -= lr * wd * w` next to the
update). SimCLR's LARS and `torch.optim.SGD` instead add `wd * w` to the
gradient (L2), so the decay goes through the momentum and, for LARS, the
trust ratio. `CoupledDecayOptimizer` does that and keeps the exclusions.
"""

import keras
from keras import ops


def path_matches(variable, names):
    """Whether any of `names` is a substring of the variable's path."""
    path = getattr(variable, "path", None) or variable.name
    return any(name in path for name in names)


class CoupledDecayOptimizer(keras.optimizers.Optimizer):
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
        name: String. The name of the optimizer; `None` gives the class's
            `default_name`.
        **kwargs: Other base optimizer arguments.
    """

    default_name = "coupled_decay"

    def __init__(
        self,
        learning_rate=0.01,
        momentum=0.0,
        weight_decay=0.0,
        nesterov=False,
        name=None,
        **kwargs,
    ):
        # weight_decay=None: decay goes into the gradient in `update_step`,
        # the base class must not decay the variables a second time.
        super().__init__(
            learning_rate=learning_rate,
            weight_decay=None,
            name=name or self.default_name,
            **kwargs,
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
            or path_matches(variable, self._no_decay_names)
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
