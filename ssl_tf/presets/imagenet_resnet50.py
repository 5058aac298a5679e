"""`imagenet-resnet50`: SimCLR's ImageNet recipe (TPU/GPU).

Data from TFDS `imagenet2012`.
"""

from ssl_tf import config
from ssl_tf.presets import mae_recipe, register_preset, sgd, simclr_train

BASE = config.ExperimentConfig(
    method="simclr",
    encoder=config.EncoderConfig("resnet50", stem="imagenet", width=1.0),
    data=config.DataConfig("tfds", "imagenet2012", image_size=224),
    augment=config.AugmentConfig(jitter_strength=1.0, blur=True),
    train=simclr_train(batch_size=4096, epochs=100, learning_rate=0.3),
)

PER_METHOD = {
    # MAE's recipe (He et al., 2022): AdamW, base rate 1.5e-4 per 256
    # images, wd 0.05, 40 warm-up epochs; ViT-B with 16-pixel patches
    # (not measured here).
    "mae": mae_recipe("vit_base", warmup_epochs=40.0),
    # MoCo v2's ImageNet recipe: batch 256, lr 0.03, 200 epochs,
    # 8 GPUs (here 8 BN groups), crops of 20-100% area.
    "moco": {
        "temperature": 0.2,
        "queue_size": 65536,
        "momentum": 0.999,
        "projection_dims": (2048, 128),
        "bn_splits": 8,
        **sgd(0.03, 1e-4),
        "train.batch_size": 256,
        "train.epochs": 200,
        "train.warmup_epochs": 0.0,
        "augment.crop_scale": (0.2, 1.0),
        "augment.jitter_strength": 0.5,
    },
    # Kolesnikov et al. (2019): 35 epochs of SGD, lr 0.1 per 256.
    "rotation": {
        "train.batch_size": 1024,
        "train.epochs": 35,
        **sgd(0.1, 1e-4),
        "train.warmup_epochs": 5.0,
        "augment.crop_scale": (0.25, 1.0),
    },
    # SimCLR v2's 3-layer projection head.
    "simclr": {"projection_dims": (2048, 2048, 128)},
    # Goyal et al. (2017): SGD, lr 0.1 per 256, 90 epochs, 5 warm-up.
    "supervised": {
        **sgd(0.1, 1e-4),
        "train.epochs": 90,
        "train.warmup_epochs": 5.0,
    },
}

register_preset("imagenet-resnet50", base=BASE, per_method=PER_METHOD)
