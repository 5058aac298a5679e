"""`train.mixed_precision`: the Keras dtype policy, `auto` chosen per platform.

Variables, the loss, BatchNorm statistics and the augmentation stay
float32 under every policy; only layer computations move to 16 bits.
bfloat16 needs no loss scaling, so it keeps exact resume as it is.
float16 needs Keras's `LossScaleOptimizer`, whose scale is an optimizer
variable and so goes into the checkpoint with the others; but a step it
skips (overflow) does not advance the step counter, so a float16 run
does not resume exactly and `auto` never picks it.
"""

from __future__ import annotations

import logging

import keras
import tensorflow as tf

logger = logging.getLogger("ssl_tf.training")

POLICIES = {
    "none": "float32",
    "bfloat16": "mixed_bfloat16",
    "float16": "mixed_float16",
}
# x86 flags of CPUs with bfloat16 dot-product or matrix units.
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags(path: str = "/proc/cpuinfo") -> set[str]:
    """The CPU feature flags Linux reports (empty where it reports none)."""
    try:
        with open(path) as handle:
            for line in handle:
                if line.startswith(("flags", "Features")):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _gpu_capability():
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return None
    details = tf.config.experimental.get_device_details(gpus[0])
    return tuple(details.get("compute_capability") or (0, 0))


def resolve(name: str, strategy=None, flags=None) -> tuple[str, str]:
    """`(precision, reason)`: what `auto` means here; other names pass.

    `auto` is the fastest configuration that keeps the main job's score:
    bfloat16 on TPUs and on GPUs from compute capability 8.0 (Ampere),
    and float32 elsewhere: on GPUs of capability 7.x float16 is faster,
    but its loss scaler skips overflowing steps without advancing the
    step counter, which breaks exact resume. The accelerator rules are
    documented practice (no accelerator is measured here). On a CPU
    with AVX-512 BF16, bfloat16 ran the SimCLR step 1.6x faster but
    scored 0.8 and 2.8 linear-probe points below float32 on two seeds of
    the main job (README, Throughput), so it is one override away, not
    the default.
    """
    if name != "auto":
        return name, "set in the config"
    if isinstance(strategy, tf.distribute.TPUStrategy):
        return "bfloat16", "TPU"
    capability = _gpu_capability()
    if capability is not None:
        if capability >= (8, 0):
            return "bfloat16", f"GPU of compute capability {capability}"
        if capability >= (7, 0):
            # float16's loss scaler skips overflowing steps without
            # advancing the step counter, so resume would not be exact.
            return "none", (
                f"GPU of compute capability {capability}: float16 is "
                "faster but its skipped steps break exact resume; "
                "train.mixed_precision=float16 trades that for speed"
            )
        return "none", f"GPU of compute capability {capability}"
    found = sorted(
        set(BF16_CPU_FLAGS) & (cpu_flags() if flags is None else flags)
    )
    if found:
        return "none", (
            f"CPU with {', '.join(found)}: bfloat16 is faster here but "
            "scored lower; train.mixed_precision=bfloat16 trades quality "
            "for speed"
        )
    return "none", "CPU without bfloat16 units"


def set_policy(name: str, strategy=None) -> str:
    """Sets Keras's global dtype policy for `name`; returns the precision."""
    precision, reason = resolve(name, strategy)
    keras.mixed_precision.set_global_policy(POLICIES[precision])
    if name == "auto":
        logger.info("Mixed precision: auto -> %s (%s).", precision, reason)
    return precision
