"""Random resized crop, vectorized over the batch.

This is the one module that imports KerasCV (for the comparison backend).
"""

import math

import keras
import tensorflow as tf

from ssl_tf.augment import seeding

# Candidates drawn per image; the first that fits inside the image is used,
# as torchvision's RandomResizedCrop tries 10 times before falling back.
_ATTEMPTS = 10


@keras.saving.register_keras_serializable(package="ssl_tf")
class RandomResizedCrop(keras.layers.Layer):
    """Crops a random area and aspect ratio of each image, resizes it.

    Every image in the batch gets its own box; all boxes are cut and resized
    by one `crop_and_resize` call (KerasCV's `RandomCropAndResize` loops over
    images and was measured ~3x slower here). Safe inside `tf.data`.

    Args:
        height: Integer. Output height.
        width: Integer. Output width.
        scale: Tuple. Range of the crop area as a fraction of the image.
        ratio: Tuple. Range of the crop aspect ratio (width / height).
        seed: Integer. Seed for the layer's own generator.

    Example:
    >>> crop = RandomResizedCrop(8, 8, seed=1)
    >>> crop(np.zeros((4, 16, 16, 3), "float32")).shape
    TensorShape([4, 8, 8, 3])
    """

    def __init__(
        self,
        height,
        width,
        scale=(0.08, 1.0),
        ratio=(3 / 4, 4 / 3),
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not 0 < scale[0] <= scale[1] <= 1:
            raise ValueError(
                "`scale` must satisfy 0 < low <= high <= 1. "
                f"Received: scale={scale}"
            )
        if not 0 < ratio[0] <= ratio[1]:
            raise ValueError(
                f"`ratio` must satisfy 0 < low <= high. Received: ratio={ratio}"
            )
        self.height = height
        self.width = width
        self.scale = tuple(scale)
        self.ratio = tuple(ratio)
        self.seed = seed
        self.generator = keras.random.SeedGenerator(seed)

    def sample_boxes(self, batch_size, aspect, seed):
        """Normalized `[y1, x1, y2, x2]` boxes, one per image.

        `aspect` is the input's width / height, so `ratio` is measured in
        pixels as in torchvision.
        """
        shape = (batch_size, _ATTEMPTS)
        area = keras.random.uniform(shape, *self.scale, seed=seed)
        log_ratio = keras.random.uniform(
            shape, math.log(self.ratio[0]), math.log(self.ratio[1]), seed=seed
        )
        ratio = tf.exp(log_ratio)
        # Fractions of the image side: w*h = area, (w*W)/(h*H) = ratio.
        w = tf.sqrt(area * ratio / aspect)
        h = tf.sqrt(area / ratio * aspect)
        fits = (w <= 1.0) & (h <= 1.0)
        first = tf.argmax(tf.cast(fits, tf.int32), axis=1, output_type=tf.int32)
        w = tf.gather(w, first, batch_dims=1)
        h = tf.gather(h, first, batch_dims=1)
        # No candidate fit: fall back to the whole image (torchvision clamps
        # the ratio and takes a central crop; the whole image is simpler).
        any_fit = tf.reduce_any(fits, axis=1)
        w = tf.where(any_fit, w, 1.0)
        h = tf.where(any_fit, h, 1.0)
        y = keras.random.uniform((batch_size,), seed=seed) * (1.0 - h)
        x = keras.random.uniform((batch_size,), seed=seed) * (1.0 - w)
        return tf.stack([y, x, y + h, x + w], axis=1)

    def build(self, input_shape):
        # Sub-layers and random state need no shapes; nothing to create.
        self.built = True

    def call(self, images, seed=None):
        images = tf.convert_to_tensor(images)
        shape = tf.shape(images)
        aspect = tf.cast(shape[2], tf.float32) / tf.cast(shape[1], tf.float32)
        boxes = self.sample_boxes(
            shape[0], aspect, seeding.seed_source(self, seed)
        )
        crops = tf.image.crop_and_resize(
            tf.cast(images, tf.float32),
            boxes,
            box_indices=tf.range(shape[0]),
            crop_size=(self.height, self.width),
        )
        return tf.cast(crops, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.height, self.width, input_shape[-1])

    def get_config(self):
        return {
            **super().get_config(),
            "height": self.height,
            "width": self.width,
            "scale": self.scale,
            "ratio": self.ratio,
            "seed": self.seed,
        }


def keras_cv_random_resized_crop(height, width, scale, ratio, seed=None):
    """KerasCV's per-image-loop equivalent, for comparison benchmarks."""
    import keras_cv  # optional dependency, imported here only

    return keras_cv.layers.RandomCropAndResize(
        target_size=(height, width),
        crop_area_factor=tuple(scale),
        aspect_ratio_factor=tuple(ratio),
        seed=seed,
    )


class KerasCVAugment(keras.layers.Layer):
    """The same recipe from KerasCV layers, for comparison.

    KerasCV layers keep their own random state, so runs with this backend
    are not step-seeded: a resumed run sees different augmentations.
    """

    def __init__(self, augment_config, image_size, blur, seed=None, **kwargs):
        super().__init__(**kwargs)
        import keras_cv  # optional dependency, imported only for this backend

        s = augment_config.jitter_strength
        layers = keras_cv.layers
        self.steps = [
            keras_cv_random_resized_crop(
                image_size,
                image_size,
                augment_config.crop_scale,
                augment_config.crop_ratio,
                seed,
            ),
            layers.RandomFlip("horizontal", seed=seed),
            layers.RandomApply(
                layers.RandomColorJitter(
                    value_range=(0, 1),
                    brightness_factor=0.8 * s,
                    contrast_factor=0.8 * s,
                    saturation_factor=(0.5 - 0.4 * s, 0.5 + 0.4 * s),
                    hue_factor=0.2 * s,
                    seed=seed,
                ),
                rate=augment_config.jitter_prob,
                seed=seed,
            ),
            layers.RandomApply(
                layers.Grayscale(output_channels=3),
                rate=augment_config.grayscale_prob,
                seed=seed,
            ),
        ]
        if blur:
            kernel = max(3, (image_size // 10) | 1)
            self.steps.append(
                layers.RandomApply(
                    layers.RandomGaussianBlur(kernel, (0.1, 2.0), seed=seed),
                    rate=0.5,
                    seed=seed,
                )
            )

    def build(self, input_shape):
        # Sub-layers and random state need no shapes; nothing to create.
        self.built = True

    def call(self, images, seed=None):
        del seed  # KerasCV layers are stateful; see the class docstring.
        images = tf.cast(images, tf.float32) / 255.0
        for step in self.steps:
            images = step(images)
        return tf.clip_by_value(images, 0.0, 1.0)
