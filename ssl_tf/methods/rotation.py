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

    # Per step the encoder sees 4x the batch: half SimCLR's batch keeps the
    # images per step equal to SimCLR's 2 views, so an epoch costs twice
    # SimCLR's; half the epochs keep the whole budget equal.
    # `sgd` follows torch.optim.SGD: these PyTorch wd values are coupled L2.
    # In the 2-epoch budget twice RotNet's rate learns faster: lr 0.2 gave
    # 48.2 linear top-1, 0.4 gave 50.9 (README).
    preset_options = {
        "cifar10-quick": {
            "__config__": {
                "train.batch_size": "128",
                "train.epochs": "2",
                "train.optimizer": "sgd",
                "train.learning_rate": "0.4",
                "train.momentum": "0.9",
                "train.weight_decay": "5e-4",
                "augment.crop_scale": "0.5,1.0",
            },
        },
        # RotNet's CIFAR recipe: SGD, batch 128, lr 0.1, wd 5e-4.
        "cifar10-resnet18": {
            "__config__": {
                "train.batch_size": "128",
                "train.epochs": "100",
                "train.optimizer": "sgd",
                "train.learning_rate": "0.2",
                "train.momentum": "0.9",
                "train.weight_decay": "5e-4",
                "train.warmup_epochs": "1",
                "augment.crop_scale": "0.5,1.0",
            },
        },
        # Kolesnikov et al. (2019): 35 epochs of SGD, lr 0.1 per 256.
        "imagenet-resnet50": {
            "__config__": {
                "train.batch_size": "1024",
                "train.epochs": "35",
                "train.optimizer": "sgd",
                "train.learning_rate": "0.1",
                "train.momentum": "0.9",
                "train.weight_decay": "1e-4",
                "train.warmup_epochs": "5",
                "augment.crop_scale": "0.25,1.0",
            },
        },
    }

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
