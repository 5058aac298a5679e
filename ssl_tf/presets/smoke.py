"""`smoke`: a tiny run (16 px, batch 8, 2 steps) used by tests and CI.

`ssl_tf.testing.smoke_config` builds on it. No method tunes it: every
method runs its defaults, on a ViT where it needs one (MAE).
"""

from ssl_tf import config
from ssl_tf.presets import register_preset

BASE = config.ExperimentConfig(
    method="simclr",
    encoder=config.EncoderConfig("resnet18", stem="cifar", width=0.125),
    data=config.DataConfig(
        "arrays", "arrays", image_size=16, shuffle_buffer=64
    ),
    train=config.TrainConfig(
        batch_size=8,
        epochs=1,
        steps_per_epoch=2,
        optimizer="sgd",
        learning_rate=0.1,
        warmup_epochs=0,
    ),
)

PER_METHOD = {
    # MAE masks ViT patches: the smallest ViT at width 1/8 (24-dim tokens).
    "mae": {"encoder.name": "vit_tiny", "encoder.width": 0.125},
}

register_preset("smoke", base=BASE, per_method=PER_METHOD)
