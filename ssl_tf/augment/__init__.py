"""Batched augmentation layers that run inside tf.data or on the device."""

from ssl_tf.augment.color import ColorJitter, RandomApply, SeededImageLayer
from ssl_tf.augment.crop import RandomResizedCrop
from ssl_tf.augment.rotation import FourRotations
from ssl_tf.augment.seeding import batch_seed
from ssl_tf.augment.views import SimCLRAugment, TwoViews, simclr_recipe

__all__ = [
    "ColorJitter",
    "FourRotations",
    "RandomApply",
    "RandomResizedCrop",
    "SeededImageLayer",
    "SimCLRAugment",
    "TwoViews",
    "batch_seed",
    "simclr_recipe",
]
