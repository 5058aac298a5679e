"""Supervised baseline: the encoder trained as a classifier on labels."""

import dataclasses

import keras
import tensorflow as tf

from ssl_tf import augment
from ssl_tf.config import check_choice
from ssl_tf.methods.base import MethodConfig, SSLModel, register_method
from ssl_tf.models.heads import ClassificationHead


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
class Supervised(SSLModel):
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

    def __init__(self, encoder, config, num_classes, **kwargs):
        super().__init__(encoder=encoder, config=config, **kwargs)
        self.num_classes = int(num_classes)
        self.classifier = ClassificationHead(
            self.num_classes, seed=self.seed, name="classifier"
        )
        self.classifier.build((None, int(encoder.outputs[0].shape[-1])))
        self.ssl_loss = keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, name="cross_entropy"
        )
        self.accuracy = keras.metrics.Mean("accuracy")

    @staticmethod
    def make_views(augment_config, image_size, seed=None, method_config=None):
        method_config = method_config or SupervisedConfig()
        return augment.LabeledView(
            augment.make_recipe(
                method_config.recipe, augment_config, image_size, seed
            )
        )

    def compute_ssl_loss(self, inputs, training):
        embeddings = self.encoder(inputs["images"], training=training)
        logits = self.classifier(embeddings)
        labels = tf.cast(tf.reshape(inputs["labels"], [-1]), tf.int32)
        predicted = tf.argmax(logits, axis=1, output_type=tf.int32)
        self.accuracy.update_state(
            tf.cast(tf.equal(predicted, labels), tf.float32)
        )
        return self.ssl_loss(labels, logits)
