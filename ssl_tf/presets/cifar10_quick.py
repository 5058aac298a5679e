"""`cifar10-quick`: CIFAR-10 pretraining in under 15 minutes on 2 CPU cores.

The README's result tables come from this preset; every value below that
differs from a method's recipe says which measurement chose it.
"""

from ssl_tf import config
from ssl_tf.presets import mae_recipe, register_preset, sgd, simclr_train

BASE = config.ExperimentConfig(
    method="simclr",
    encoder=config.EncoderConfig("resnet18", stem="cifar", width=0.25),
    data=config.DataConfig("tfds", "cifar10", image_size=32),
    # Crops of at least 20% of the image (as in MoCo's CIFAR recipe)
    # learn faster in a 3-epoch budget than SimCLR's 8%.
    augment=config.AugmentConfig(crop_scale=(0.2, 1.0), jitter_strength=0.5),
    train=simclr_train(
        batch_size=256,
        # 4 epochs: ~13 min of pretraining here once the per-image
        # augmentation stopped competing with the step for the 2 cores
        # (3 epochs: 51.5 / 49.6 linear / kNN; 4: 55.0 / 51.7; README).
        epochs=4,
        learning_rate=1.0,
        warmup_epochs=0.5,
        checkpoint_every_seconds=120,
    ),
)

PER_METHOD = {
    # solo-learn's CIFAR BYOL: LARS (the base's lr 1.0) with wd 1e-5 and
    # tau_base 0.99 rising to 1 over the run; the heads at the quick width
    # (BYOL's 4096-256 projector and 4096 predictor scaled to the
    # defaults, 512-128 and 512). A BYOL step adds the target's forward
    # pass of both views (no backward) to SimCLR's step: ~1.33x its cost
    # by FLOPs, 1.29x measured (`benchmarks/bench.py --stages step`:
    # 5.4 s vs 4.2 s), so 3 epochs keep SimCLR's 4-epoch budget.
    "byol": {"train.epochs": 3, "train.weight_decay": 1e-5},
    # MAE's recipe (AdamW, base rate 1.5e-4 per 256 images, wd 0.05) on a
    # half-width ViT-Tiny (96-dim tokens, 12 blocks, 3 heads): at 32 px the
    # full width would make every evaluation pass 4x dearer. A step at batch
    # 256 costs 1.03x SimCLR's (`benchmarks/measure.py` step stage: 3.50 s
    # vs 3.39 s, both on a loaded machine), so SimCLR's 4 epochs are the
    # same budget. Keras's AdamW keeps beta_2 = 0.999 (MAE: 0.95).
    "mae": mae_recipe(
        "vit_tiny",
        warmup_epochs=0.5,
        **{"encoder.width": 0.5, "train.epochs": 4},
    ),
    # solo-learn's CIFAR MoCo v2+ optimizer (SGD 0.3, wd 1e-4) with
    # T = 0.1, measured best of three at 4 epochs (README): the peer's
    # SGD 0.06 / wd 5e-4 / T 0.2 gave 48.3 / 46.3, this 49.2 / 47.4.
    # A MoCo epoch costs 0.65x SimCLR's (the key view has no backward
    # pass; `benchmarks/bench.py`), so 6 epochs fit SimCLR's 4-epoch
    # budget: 51.6 / 49.1. The queue (4096) and m = 0.99 are MoCo's defaults.
    "moco": {"temperature": 0.1, "train.epochs": 6, **sgd(0.3, 1e-4)},
    # Per step the encoder sees 4x the batch: half SimCLR's batch keeps the
    # images per step equal to SimCLR's 2 views, so an epoch costs twice
    # SimCLR's; half the epochs keep the whole budget equal.
    # In the 2-epoch budget twice RotNet's rate learns faster: lr 0.2 gave
    # 48.2 linear top-1, 0.4 gave 50.9 (README).
    "rotation": {
        "train.batch_size": 128,
        "train.epochs": 2,
        **sgd(0.4, 5e-4),
        "augment.crop_scale": (0.5, 1.0),
    },
    # SimCLR's defaults: T = 0.1 gave 51.2 / 49.8 linear / kNN top-1 at 3
    # epochs, T = 0.5 gave 48.6 / 44.9.
    "simclr": {},
    # solo-learn's CIFAR SimSiam optimizer (SGD 0.5, wd 1e-5); the heads at
    # the quick width (projector 512-512 with BN on the output, predictor
    # bottleneck 128 = a quarter, as SimSiam's 2048 -> 512). Its step
    # costs about SimCLR's (same two views, a small predictor), so it
    # gets SimCLR's 4 epochs. SimSiam's ImageNet rate (0.05, wd 5e-4)
    # gave 37.1 / 34.7 linear / kNN, below random init; 0.5 / 1e-5 gave
    # 43.4 / 37.1 (README).
    "simsiam": sgd(0.5, 1e-5),
    "supervised": sgd(0.2, 5e-4),
    # Same encoder, views and LARS budget as SimCLR: LARS scales each
    # update to the weight norm, so its rate carries over.
    "triplet": {"margin": 0.2, "mining": "semihard"},
}

register_preset("cifar10-quick", base=BASE, per_method=PER_METHOD)
