"""Learning-rate schedules and batch-size scaling rules."""

import math

import keras
from keras import ops

SCALINGS = ("linear", "sqrt", "none")


@keras.saving.register_keras_serializable(package="ssl_tf")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up followed by cosine decay, as used by SimCLR and MoCo v2.

    The rate rises linearly from 0 at step 0 to `peak_learning_rate` at
    `warmup_steps`, then follows half a cosine down to `final_learning_rate`
    at `total_steps`, and stays there afterwards.

    Args:
        peak_learning_rate: Float. The rate reached at the end of warm-up.
        total_steps: Integer. Step at which the decay ends (warm-up
            included).
        warmup_steps: Integer. Length of the linear warm-up. `0` starts the
            cosine decay at step 0.
        final_learning_rate: Float. The rate at and after `total_steps`.
        name: String. Optional name scope for the ops.

    Example:
    >>> schedule = WarmupCosine(1.0, total_steps=10, warmup_steps=2)
    >>> float(schedule(1))
    0.5
    """

    def __init__(
        self,
        peak_learning_rate,
        total_steps,
        warmup_steps=0,
        final_learning_rate=0.0,
        name=None,
    ):
        super().__init__()
        if total_steps <= 0:
            raise ValueError(
                "`total_steps` must be positive. "
                f"Received: total_steps={total_steps}"
            )
        if warmup_steps < 0 or warmup_steps > total_steps:
            raise ValueError(
                "`warmup_steps` must be between 0 and `total_steps` "
                f"({total_steps}). Received: warmup_steps={warmup_steps}"
            )
        if peak_learning_rate < 0:
            raise ValueError(
                "`peak_learning_rate` must be non-negative. "
                f"Received: peak_learning_rate={peak_learning_rate}"
            )
        if final_learning_rate < 0:
            raise ValueError(
                "`final_learning_rate` must be non-negative. "
                f"Received: final_learning_rate={final_learning_rate}"
            )
        self.peak_learning_rate = peak_learning_rate
        self.total_steps = total_steps
        self.warmup_steps = warmup_steps
        self.final_learning_rate = final_learning_rate
        self.name = name

    def __call__(self, step):
        with keras.name_scope(self.name or "warmup_cosine"):
            step = ops.cast(step, "float32")
            peak = ops.cast(self.peak_learning_rate, "float32")
            final = ops.cast(self.final_learning_rate, "float32")
            warmup_steps = float(self.warmup_steps)
            # max(.., 1) keeps both divisions finite when a phase is empty;
            # the `where` below then never selects the empty phase.
            warmup = peak * step / max(warmup_steps, 1.0)
            decay_steps = max(float(self.total_steps) - warmup_steps, 1.0)
            progress = ops.clip((step - warmup_steps) / decay_steps, 0.0, 1.0)
            cosine = final + 0.5 * (peak - final) * (
                1.0 + ops.cos(math.pi * progress)
            )
            return ops.where(step < warmup_steps, warmup, cosine)

    def get_config(self):
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "final_learning_rate": self.final_learning_rate,
            "name": self.name,
        }


def scaled_learning_rate(
    base_lr: float, global_batch_size: int, scaling: str
) -> float:
    """Scales a base learning rate with the global batch size.

    Follows SimCLR's `run.py`: `linear` is `base_lr * global_batch_size / 256`
    (so `base_lr` is the rate for a batch of 256), `sqrt` is
    `base_lr * sqrt(global_batch_size)` (SimCLR pairs it with a smaller
    `base_lr`, e.g. 0.075), and `none` returns `base_lr` unchanged.

    Args:
        base_lr: Float. The unscaled learning rate.
        global_batch_size: Integer. Batch size summed over all replicas.
        scaling: One of `"linear"`, `"sqrt"` or `"none"`.

    Returns:
        The scaled learning rate as a Python float.

    Raises:
        ValueError: if `scaling` is unknown or the batch size is not
            positive.

    Example:
    >>> scaled_learning_rate(0.3, 512, "linear")
    0.6
    """
    if global_batch_size <= 0:
        raise ValueError(
            "`global_batch_size` must be positive. "
            f"Received: global_batch_size={global_batch_size}"
        )
    if scaling == "linear":
        return base_lr * global_batch_size / 256.0
    if scaling == "sqrt":
        return base_lr * math.sqrt(global_batch_size)
    if scaling == "none":
        return float(base_lr)
    raise ValueError(
        f"`scaling` must be one of {list(SCALINGS)}. Received: "
        f"scaling={scaling!r}"
    )
