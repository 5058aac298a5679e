"""Batched augmentation layers that run inside tf.data or on the device."""

from ssl_tf.augment.color import ColorJitter, RandomApply, SeededImageLayer
from ssl_tf.augment.crop import RandomResizedCrop
from ssl_tf.augment.rotation import FourRotations
from ssl_tf.augment.seeding import batch_seed
from ssl_tf.augment.views import (
    RECIPES,
    LabeledView,
    SimCLRAugment,
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
    "LabeledView",
    "RandomApply",
    "RandomResizedCrop",
    "SeededImageLayer",
    "SimCLRAugment",
    "TwoViews",
    "ViewLayer",
    "batch_seed",
    "crop_flip_recipe",
    "make_recipe",
    "simclr_recipe",
]
