"""Supervised baseline: the encoder trained as a classifier on labels."""

import dataclasses

from ssl_tf import augment
from ssl_tf.config import check_choice
from ssl_tf.methods.base import (
    ClassifierMethod,
    MethodConfig,
    register_method,
)


@dataclasses.dataclass(frozen=True)
class SupervisedConfig(MethodConfig):
    """Supervised-baseline options.

    Args:
        recipe: augmentation of the single view: `simclr` (the experiment's
            SimCLR recipe, as in SimCLR's supervised baseline), `crop_flip`
            (its crop and flip only, the usual supervised recipe) or
            `none`.
    """

    recipe: str = "simclr"

    def validate(self, experiment):
        check_choice("recipe", self.recipe, augment.RECIPES)


@register_method("supervised", config_cls=SupervisedConfig)
class Supervised(ClassifierMethod):
    """Supervised baseline: encoder, linear classifier, cross-entropy.

    Trains the same encoder with labels, as the upper reference for the
    self-supervised methods under linear evaluation.

    Args:
        num_classes: Integer. Number of classes in the labels.

    Metrics: `loss`, `accuracy` (training accuracy) and `learning_rate`.

    Reference:
     - [Chen et al., 2020](https://arxiv.org/abs/2002.05709), the
       supervised baseline of SimCLR (same encoder and augmentation).
    """

    needs_labels = True

    views_layer = augment.LabeledView
