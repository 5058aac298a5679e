"""Named experiment presets, with per-method options from the registry.

A method can tune a preset for itself by defining
`preset_options = {"cifar10-quick": {...}}` on its class; nothing here has
to change when a method is added.
"""

from __future__ import annotations

import dataclasses

from ssl_tf import config as config_lib
from ssl_tf.config import (
    AugmentConfig,
    ConfigError,
    DataConfig,
    EncoderConfig,
    ExperimentConfig,
    TrainConfig,
)


def _cifar10_quick() -> ExperimentConfig:
    # Sized to pretrain in under 15 minutes on a 2-core CPU (see README).
    return ExperimentConfig(
        name="cifar10-quick",
        encoder=EncoderConfig("resnet18", stem="cifar", width=0.25),
        data=DataConfig("tfds", "cifar10", image_size=32),
        # Crops of at least 20% of the image (as in MoCo's CIFAR recipe)
        # learn faster in a 3-epoch budget than SimCLR's 8%.
        augment=AugmentConfig(crop_scale=(0.2, 1.0), jitter_strength=0.5),
        train=TrainConfig(
            batch_size=256,
            # 4 epochs: ~13 min of pretraining here once the per-image
            # augmentation stopped competing with the step for the 2 cores
            # (3 epochs: 51.5 / 49.6 linear / kNN; 4: 55.0 / 51.7; README).
            epochs=4,
            optimizer="lars",
            learning_rate=1.0,
            lr_scaling="linear",
            weight_decay=1e-6,
            warmup_epochs=0.5,
            checkpoint_every_seconds=120,
            # float32 on CPUs, bfloat16 on TPUs and new GPUs (README).
            mixed_precision="auto",
        ),
    )


def _cifar10_resnet18() -> ExperimentConfig:
    # The full recipe for a GPU: ~92% kNN after 800 epochs in the literature.
    return ExperimentConfig(
        name="cifar10-resnet18",
        encoder=EncoderConfig("resnet18", stem="cifar", width=1.0),
        data=DataConfig("tfds", "cifar10", image_size=32),
        augment=AugmentConfig(jitter_strength=0.5, placement="device"),
        train=TrainConfig(
            batch_size=512,
            epochs=800,
            optimizer="lars",
            learning_rate=1.0,
            weight_decay=1e-6,
            warmup_epochs=10,
            mixed_precision="auto",
        ),
    )


def _imagenet_resnet50() -> ExperimentConfig:
    # SimCLR's ImageNet recipe (TPU/GPU); data from TFDS `imagenet2012`.
    return ExperimentConfig(
        name="imagenet-resnet50",
        encoder=EncoderConfig("resnet50", stem="imagenet", width=1.0),
        data=DataConfig("tfds", "imagenet2012", image_size=224),
        augment=AugmentConfig(jitter_strength=1.0, blur=True),
        train=TrainConfig(
            batch_size=4096,
            epochs=100,
            optimizer="lars",
            learning_rate=0.3,
            weight_decay=1e-6,
            warmup_epochs=10,
            mixed_precision="auto",
        ),
    )


def _smoke() -> ExperimentConfig:
    # Tiny synthetic-size run used by tests and CI.
    return ExperimentConfig(
        name="smoke",
        encoder=EncoderConfig("resnet18", stem="cifar", width=0.125),
        data=DataConfig("arrays", "arrays", image_size=16, shuffle_buffer=64),
        train=TrainConfig(
            batch_size=8,
            epochs=1,
            steps_per_epoch=2,
            optimizer="sgd",
            learning_rate=0.1,
            warmup_epochs=0,
        ),
    )


PRESETS = {
    "cifar10-quick": _cifar10_quick,
    "cifar10-resnet18": _cifar10_resnet18,
    "imagenet-resnet50": _imagenet_resnet50,
    "smoke": _smoke,
}


def list_presets() -> list[str]:
    return sorted(PRESETS)


def get_preset(name: str, method: str = "simclr") -> ExperimentConfig:
    """The preset `name` for `method`, with the method's own options."""
    from ssl_tf import methods

    if name not in PRESETS:
        raise ConfigError(
            f"Unknown preset {name!r}. Available: {list_presets()}."
            f"{config_lib.suggest(name, PRESETS)}"
        )
    config_lib.check_choice("method", method, methods.list_methods())
    method_cls = methods.get_method(method)
    base = PRESETS[name]()
    options = dict(getattr(method_cls, "preset_options", {}).get(name, {}))
    overrides = options.pop("__config__", {})
    config = dataclasses.replace(
        base,
        method=method,
        method_options=options,
        name=base.name if method == "simclr" else f"{base.name}-{method}",
    )
    return config_lib.apply_overrides(config, overrides)
