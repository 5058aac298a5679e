"""Named experiment presets. Every module in this package registers one.

A preset is a base `ExperimentConfig` plus, per method, the overrides that
tune it for that method (dotted keys and method options, as
`ssl_tf.config.apply_overrides` takes them). Importing the package imports
each sibling module, so a new preset is one new file:

```python
register_preset(
    "cifar10-tiny",
    base=ExperimentConfig(method="simclr", data=DataConfig(image_size=32)),
    per_method={"moco": {"train.optimizer": "sgd", "temperature": 0.2}},
)
```
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ssl_tf import registry
from ssl_tf.config import ExperimentConfig, TrainConfig, apply_overrides
from ssl_tf.errors import check_choice


@dataclasses.dataclass(frozen=True)
class Preset:
    """A registered preset.

    Args:
        name: the registry key; the run name for the default method.
        base: the config every method starts from; its `method` is the
            preset's default method.
        per_method: method name -> overrides applied on top of `base`.
    """

    name: str
    base: ExperimentConfig
    per_method: Mapping[str, Mapping[str, Any]]

    def config(self, method: str | None = None) -> ExperimentConfig:
        """The preset for `method` (`None`: the base config's method).

        The run is named after the preset; a method other than the
        default adds `-<method>` (`cifar10-quick-moco`).
        """
        method = self.base.method if method is None else method
        check_choice("method", method, registry.METHODS.names())
        name = self.name
        if method != self.base.method:
            name = f"{self.name}-{method}"
        config = dataclasses.replace(self.base, name=name, method=method)
        return apply_overrides(config, dict(self.per_method.get(method, {})))


def simclr_train(
    batch_size: int, epochs: int, learning_rate: float, **fields: Any
) -> TrainConfig:
    """SimCLR's training recipe: LARS, weight decay 1e-6, 10 warm-up epochs.

    Mixed precision `auto` (float32 on CPUs, bfloat16 on TPUs and new
    GPUs). `fields` set any other `TrainConfig` field or replace these.
    """
    recipe = {
        "optimizer": "lars",
        "weight_decay": 1e-6,
        "warmup_epochs": 10,
        "mixed_precision": "auto",
    }
    return TrainConfig(
        batch_size=batch_size,
        epochs=epochs,
        learning_rate=learning_rate,
        **{**recipe, **fields},
    )


def sgd(learning_rate: float, weight_decay: float) -> dict[str, Any]:
    """Overrides for SGD with momentum 0.9, as the PyTorch recipes use it.

    `sgd` follows `torch.optim.SGD`: the weight decays the recipes quote
    are coupled L2, so they carry over as they are.
    """
    return {
        "train.optimizer": "sgd",
        "train.learning_rate": learning_rate,
        "train.momentum": 0.9,
        "train.weight_decay": weight_decay,
    }


def mae_recipe(encoder: str, warmup_epochs: float, **fields) -> dict:
    """Overrides for MAE's recipe (He et al., 2022) on a ViT `encoder`.

    AdamW, base rate 1.5e-4 per 256 images scaled linearly with the batch,
    weight decay 0.05; `fields` add or replace dotted keys.
    """
    return {
        "encoder.name": encoder,
        "train.optimizer": "adamw",
        "train.learning_rate": 1.5e-4,
        "train.lr_scaling": "linear",
        "train.weight_decay": 0.05,
        "train.warmup_epochs": warmup_epochs,
        **fields,
    }


def register_preset(
    name: str,
    base: ExperimentConfig,
    per_method: Mapping[str, Mapping[str, Any]] | None = None,
) -> Preset:
    """Adds the preset `name` to the registry.

    Args:
        name: the preset's name (`--preset` on the command line).
        base: the `ExperimentConfig` of the default method (`base.method`).
        per_method: method name -> dict of overrides for that method, e.g.
            `{"moco": {"train.optimizer": "sgd", "temperature": 0.2}}`.

    Raises:
        KeyError: if `name` is already registered.
    """
    preset = Preset(name, base, dict(per_method or {}))
    return registry.PRESETS.register(name, preset)


def unregister_preset(name: str) -> None:
    """Removes a preset (for tests that register throwaway presets)."""
    registry.PRESETS.unregister(name)


def list_presets() -> list[str]:
    return registry.PRESETS.names()


def get_preset(name: str, method: str | None = None) -> ExperimentConfig:
    """The preset `name` for `method` (`None`: the preset's own method).

    Raises:
        ConfigError: for an unknown preset or method, naming the
            available ones.
    """
    return registry.PRESETS.get(name).config(method)


# Import every module of this package: each registers itself.
registry.import_submodules(__name__, __path__)

__all__ = [
    "Preset",
    "get_preset",
    "list_presets",
    "register_preset",
    "sgd",
    "simclr_train",
    "unregister_preset",
]
