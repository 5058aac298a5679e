"""Rotation prediction (RotNet): classify which of 4 rotations was applied."""

import dataclasses

import keras
import tensorflow as tf

from ssl_tf import augment
from ssl_tf.config import check_choice
from ssl_tf.methods.base import MethodConfig, SSLModel, register_method
from ssl_tf.models.heads import ClassificationHead

# Colour changes would not help the rotation task: no "simclr" recipe.
RECIPES = ("crop_flip", "none")


@dataclasses.dataclass(frozen=True)
class RotationConfig(MethodConfig):
    """Rotation-prediction options.

    Args:
        recipe: augmentation before rotating: `crop_flip` (random resized
            crop with `augment.crop_scale` / `augment.crop_ratio` and the
            `augment.flip` flip, no colour jitter) or `none` (images as
            they are, in [0, 1]).
    """

    recipe: str = "crop_flip"

    def validate(self, experiment):
        check_choice("recipe", self.recipe, RECIPES)


@register_method("rotation", config_cls=RotationConfig)
class Rotation(SSLModel):
    """Rotation prediction: a 4-way classifier on the encoder output.

    Every image is shown at 0, 90, 180 and 270 degrees (`FourRotations`),
    so a batch of B images becomes 4B images with labels 0..3; the loss is
    the sparse cross-entropy of the rotation logits, averaged over the 4B.

    Metrics: `loss`, `rotation_accuracy` and `learning_rate`.

    Reference:
     - [Gidaris et al., 2018](https://arxiv.org/abs/1803.07728)
    """

    def __init__(self, encoder, config, **kwargs):
        super().__init__(encoder=encoder, config=config, **kwargs)
        self.classifier = ClassificationHead(
            4, seed=self.seed, name="rotation_head"
        )
        self.classifier.build((None, int(encoder.outputs[0].shape[-1])))
        self.ssl_loss = keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, name="rotation_cross_entropy"
        )
        self.rotation_accuracy = keras.metrics.Mean("rotation_accuracy")

    @staticmethod
    def make_views(augment_config, image_size, seed=None, method_config=None):
        method_config = method_config or RotationConfig()
        return augment.FourRotations(
            augment.make_recipe(
                method_config.recipe, augment_config, image_size, seed
            )
        )

    def compute_ssl_loss(self, inputs, training):
        embeddings = self.encoder(inputs["images"], training=training)
        logits = self.classifier(embeddings)
        labels = tf.cast(tf.reshape(inputs["labels"], [-1]), tf.int32)
        predicted = tf.argmax(logits, axis=1, output_type=tf.int32)
        self.rotation_accuracy.update_state(
            tf.cast(tf.equal(predicted, labels), tf.float32)
        )
        return self.ssl_loss(labels, logits)
