"""A callback that does something to the model at a given global step."""

import keras


class AfterStep(keras.callbacks.Callback):
    """Calls `action(model)` once the optimizer has finished global step `step`.

    Tests use it to crash a run (resume tests) or to poison a weight (NaN
    tests) at a known point; `optimizer.iterations` counts across epochs and
    resumes, unlike the per-epoch `batch` index.

    Args:
        step: Integer. The global step after which `action` runs.
        action: a function of the `keras.Model` being trained.

    Example:
    >>> stop = AfterStep(2, lambda model: setattr(model, "stop_training", True))
    """

    def __init__(self, step, action):
        super().__init__()
        self.step = step
        self.action = action

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) == self.step:
            self.action(self.model)
