"""Colour augmentations of the SimCLR recipe, on batches in [0, 1]."""

import keras
import tensorflow as tf

from ssl_tf.augment import seeding


@keras.saving.register_keras_serializable(package="ssl_tf")
class RandomApply(keras.layers.Layer):
    """Applies `layer` to each image of a batch with probability `rate`.

    The layer runs on the whole batch and a per-image coin picks the result,
    which keeps everything vectorized.

    Args:
        layer: A Keras image preprocessing layer (anything with
            `get_random_transformation` and `transform_images`).
        rate: Float. Probability of applying `layer` to an image.
        seed: Integer. Seed for the layer's own generator.
    """

    def __init__(self, layer, rate=0.5, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate <= 1:
            raise ValueError(f"`rate` must be in [0, 1]. Received: rate={rate}")
        self.layer = layer
        self.rate = rate
        self.seed = seed
        self.generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        # Sub-layers and random state need no shapes; nothing to create.
        self.built = True

    def call(self, images, seed=None):
        source = seeding.seed_source(self, seeding.derive(seed, 1))
        batch_size = tf.shape(images)[0]
        coin = keras.random.uniform((batch_size, 1, 1, 1), seed=source)
        changed = self.layer(images, seed=seeding.derive(seed, 2))
        return tf.where(coin < self.rate, changed, images)

    def get_config(self):
        return {
            **super().get_config(),
            "layer": keras.saving.serialize_keras_object(self.layer),
            "rate": self.rate,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["layer"] = keras.saving.deserialize_keras_object(config["layer"])
        return cls(**config)


def _saturation_factor_range(amount):
    # Keras's RandomSaturation multiplies saturation by f / (1 - f); SimCLR
    # multiplies by a value in [1 - amount, 1 + amount]. Solve for f.
    low, high = max(1.0 - amount, 0.0), 1.0 + amount
    return (low / (1.0 + low), high / (1.0 + high))


@keras.saving.register_keras_serializable(package="ssl_tf")
class ColorJitter(keras.layers.Layer):
    """SimCLR colour distortion of strength `strength` (not yet randomized).

    Brightness (additive, up to 0.8 s), contrast and saturation (factor in
    [1 - 0.8 s, 1 + 0.8 s]) and hue (shift up to 0.2 s), drawn per image, as
    in SimCLR's `color_jitter`, built from Keras 3 image layers. Wrap it in
    `RandomApply` for the recipe's p = 0.8.

    Args:
        strength: Float. The `s` of the SimCLR paper (0.5 for CIFAR).
        seed: Integer. Seed for the layer's own generator.
    """

    def __init__(self, strength=0.5, seed=None, **kwargs):
        super().__init__(**kwargs)
        if strength < 0:
            raise ValueError(
                f"`strength` must be >= 0. Received: strength={strength}"
            )
        self.strength = strength
        self.seed = seed
        self.generator = keras.random.SeedGenerator(seed)
        amount = 0.8 * strength
        unit = (0.0, 1.0)
        self.steps = [
            keras.layers.RandomBrightness(amount, value_range=unit),
            keras.layers.RandomContrast(amount, value_range=unit),
            keras.layers.RandomSaturation(
                _saturation_factor_range(amount), value_range=unit
            ),
            # RandomHue shifts hue by up to factor / 2.
            keras.layers.RandomHue(min(0.4 * strength, 1.0), value_range=unit),
        ]

    def build(self, input_shape):
        # Sub-layers and random state need no shapes; nothing to create.
        self.built = True

    def call(self, images, seed=None):
        source = seeding.seed_source(self, seed)
        for step in self.steps:
            images = seeding.apply_random(step, images, source)
        return tf.clip_by_value(images, 0.0, 1.0)

    def get_config(self):
        return {
            **super().get_config(),
            "strength": self.strength,
            "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package="ssl_tf")
class SeededImageLayer(keras.layers.Layer):
    """Runs a Keras image layer with randomness from an optional seed tensor.

    Lets stock layers (`RandomFlip`, `RandomGrayscale`, `Solarization`,
    `RandomGaussianBlur`) take part in the step-seeded augmentation.

    Args:
        layer: A Keras 3 image preprocessing layer.
    """

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        self.layer = layer

    def build(self, input_shape):
        # Sub-layers and random state need no shapes; nothing to create.
        self.built = True

    def call(self, images, seed=None):
        source = seeding.seed_source(self.layer, seed)
        return seeding.apply_random(self.layer, images, source)

    def get_config(self):
        return {
            **super().get_config(),
            "layer": keras.saving.serialize_keras_object(self.layer),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["layer"] = keras.saving.deserialize_keras_object(config["layer"])
        return cls(**config)
