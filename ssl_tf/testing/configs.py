"""The smoke config every pretraining test starts from.

big_vision's `get_config(runlocal=True)` in one function: the `smoke` preset
(8 images a batch, 16 px, a width-1/8 ResNet-18, 2 steps) for a method, with
its run and export directories under a test's temporary directory.
"""

from __future__ import annotations

import dataclasses
import os

from ssl_tf import presets
from ssl_tf.config import ExperimentConfig, apply_overrides


def smoke_config(
    directory: str, method: str = "simclr", name: str | None = None, **overrides
) -> ExperimentConfig:
    """The `smoke` preset for `method`, writing under `directory`.

    Args:
        directory: runs go to `<directory>/runs`, exports to
            `<directory>/saved`.
        method: a registered method.
        name: the run name; `None` keeps the preset's (`smoke-<method>`).
        **overrides: dotted keys as on the command line, e.g.
            `**{"train.epochs": "2"}`.

    Example:
    >>> config = smoke_config("/tmp/t", "moco", **{"train.epochs": "2"})
    >>> config.train.epochs, config.output_dir
    (2, '/tmp/t/runs')
    """
    config = dataclasses.replace(
        presets.get_preset("smoke", method),
        output_dir=os.path.join(directory, "runs"),
        export_dir=os.path.join(directory, "saved"),
    )
    if name is not None:
        config = dataclasses.replace(config, name=name)
    return apply_overrides(config, overrides)
