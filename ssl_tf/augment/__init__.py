"""Batched augmentation layers that run inside tf.data or on the device."""

from ssl_tf.augment.blur import GaussianBlur
from ssl_tf.augment.color import (
    ColorJitter,
    Grayscale,
    RandomApply,
    Solarize,
)
from ssl_tf.augment.crop import RandomCrop, RandomFlip, RandomResizedCrop
from ssl_tf.augment.frames import WholeImage
from ssl_tf.augment.layer import RandomImageLayer
from ssl_tf.augment.rotation import FourRotations
from ssl_tf.augment.seeding import RowSeed, batch_seed, replica_seed
from ssl_tf.augment.simclr_augment import SimCLRAugment
from ssl_tf.augment.views import (
    RECIPES,
    LabeledView,
    TwoViews,
    ViewLayer,
    crop_flip_recipe,
    make_recipe,
    simclr_recipe,
)

__all__ = [
    "RECIPES",
    "ColorJitter",
    "FourRotations",
    "GaussianBlur",
    "Grayscale",
    "LabeledView",
    "RandomApply",
    "RandomCrop",
    "RandomFlip",
    "RandomImageLayer",
    "RandomResizedCrop",
    "RowSeed",
    "SimCLRAugment",
    "Solarize",
    "TwoViews",
    "ViewLayer",
    "WholeImage",
    "batch_seed",
    "replica_seed",
    "crop_flip_recipe",
    "make_recipe",
    "simclr_recipe",
]
