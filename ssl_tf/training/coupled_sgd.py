"""`CoupledSGD`: SGD with momentum and L2 weight decay, as `torch.optim.SGD`."""

import keras
from keras import ops

from ssl_tf.training.coupled_decay import CoupledDecayOptimizer


@keras.saving.register_keras_serializable(package="ssl_tf")
class CoupledSGD(CoupledDecayOptimizer):
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
        learning_rate: Default 0.01. A float, a
            `keras.optimizers.schedules.LearningRateSchedule` instance, or a
            callable that takes no arguments and returns the value to use.
        momentum: Float in `[0, 1]`, default 0. 0 keeps no buffer (plain
            SGD).
        weight_decay: Float >= 0, default 0. L2 coefficient added to the
            gradient.
        nesterov: Boolean, default False. Whether to use Nesterov momentum.
        name: String, default `"coupled_sgd"`. The name of the optimizer.
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

    # The constructor is `CoupledDecayOptimizer`'s: its defaults are SGD's.
    default_name = "coupled_sgd"

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
