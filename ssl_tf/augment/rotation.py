"""All four rotations of every image, for rotation prediction."""

import keras
import tensorflow as tf

from ssl_tf.augment import seeding


@keras.saving.register_keras_serializable(package="ssl_tf")
class FourRotations(keras.layers.Layer):
    """Stacks each image at 0, 90, 180 and 270 degrees with labels 0..3.

    A batch of n images becomes 4n images: rotation k of image i is at row
    `k * n + i` and equals `np.rot90(image, k)` (counter-clockwise). An
    optional `recipe` (e.g. crop and flip) is applied before rotating.

    Args:
        recipe: Optional augmentation layer applied first; without it
            images are only converted to float32 in [0, 1].

    Reference:
     - [Gidaris et al., 2018](https://arxiv.org/abs/1803.07728)
    """

    def __init__(self, recipe=None, **kwargs):
        super().__init__(**kwargs)
        self.recipe = recipe

    def build(self, input_shape):
        # Sub-layers and random state need no shapes; nothing to create.
        self.built = True

    def call(self, batch, seed=None):
        images = batch["images"] if isinstance(batch, dict) else batch
        if self.recipe is not None:
            images = self.recipe(images, seed=seeding.derive(seed, 1))
        else:
            images = tf.cast(images, tf.float32) / 255.0
        rotated = [tf.image.rot90(images, k) for k in range(4)]
        n = tf.shape(images)[0]
        labels = tf.repeat(tf.range(4, dtype=tf.int32), n)
        return {"images": tf.concat(rotated, axis=0), "labels": labels}

    def get_config(self):
        recipe = self.recipe
        if recipe is not None:
            recipe = keras.saving.serialize_keras_object(recipe)
        return {**super().get_config(), "recipe": recipe}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("recipe") is not None:
            config["recipe"] = keras.saving.deserialize_keras_object(
                config["recipe"]
            )
        return cls(**config)
