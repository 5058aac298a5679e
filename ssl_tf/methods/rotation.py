"""Rotation prediction (RotNet): classify which of 4 rotations was applied."""

import dataclasses

from ssl_tf import augment
from ssl_tf.config import check_choice
from ssl_tf.methods.base import (
    ClassifierMethod,
    MethodConfig,
    register_method,
)

# Colour changes would not help the rotation task: no "simclr" recipe.
RECIPES = ("crop_flip", "none")


@dataclasses.dataclass(frozen=True)
class RotationConfig(MethodConfig):
    """Rotation-prediction options.

    Args:
        recipe: augmentation before rotating: `crop_flip` (random resized
            crop with `augment.crop_scale` / `augment.crop_ratio` and the
            `augment.flip` flip, no colour jitter) or `none` (images as
            they are, in [0, 1]; full-resolution images resized to
            `data.image_size`).
    """

    recipe: str = "crop_flip"

    def validate(self, experiment):
        check_choice("recipe", self.recipe, RECIPES)


@register_method("rotation", config_cls=RotationConfig)
class Rotation(ClassifierMethod):
    """Rotation prediction: a 4-way classifier on the encoder output.

    Every image is shown at 0, 90, 180 and 270 degrees (`FourRotations`),
    so a batch of B images becomes 4B images with labels 0..3; the loss is
    the sparse cross-entropy of the rotation logits, averaged over the 4B.

    Metrics: `loss`, `rotation_accuracy` and `learning_rate`.

    Reference:
     - [Gidaris et al., 2018](https://arxiv.org/abs/1803.07728)
    """

    head_name = "rotation_head"
    loss_name = "rotation_cross_entropy"
    accuracy_name = "rotation_accuracy"
    views_layer = augment.FourRotations

    def __init__(self, encoder, config, **kwargs):
        super().__init__(encoder, config, num_classes=4, **kwargs)
