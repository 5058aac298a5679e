"""Gaussian blur with its own sigma for each image."""

import keras
import tensorflow as tf

from ssl_tf.augment import seeding
from ssl_tf.augment.layer import RandomImageLayer, check_range


def kernel_size_for(image_size):
    """SimCLR's kernel: 10% of the image side, made odd (at least 3)."""
    return max(3, (image_size // 10) | 1)


def _reflected(size, radius):
    """Indices of a side of `size` reflect-padded by `radius` (no edge copy)."""
    index = tf.range(-radius, size + radius)
    index = tf.abs(index)
    return (size - 1) - tf.abs((size - 1) - index)


def gaussian_blur(images, sigma, kernel_size):
    """Blurs image `i` with an isotropic Gaussian of std `sigma[i]` pixels.

    Separable: one horizontal and one vertical pass, each a weighted sum of
    shifted copies of the reflect-padded batch, so every image has its own
    kernel without a per-image loop.
    """
    radius = kernel_size // 2
    offsets = tf.range(-radius, radius + 1, dtype=images.dtype)
    sigma = tf.cast(sigma, images.dtype)[:, None]
    weights = tf.exp(-tf.square(offsets)[None] / (2.0 * tf.square(sigma)))
    weights = weights / tf.reduce_sum(weights, axis=1, keepdims=True)
    height, width = tf.shape(images)[1], tf.shape(images)[2]
    # Reflect padding by gathering rows and columns: `tf.pad(mode="REFLECT")`
    # fails on an empty batch, which `RandomApply` passes when no image
    # of the batch is picked.
    padded = tf.gather(images, _reflected(height, radius), axis=1)
    padded = tf.gather(padded, _reflected(width, radius), axis=2)
    rows = sum(
        weights[:, k, None, None, None] * padded[:, :, k : k + width, :]
        for k in range(kernel_size)
    )
    return sum(
        weights[:, k, None, None, None] * rows[:, k : k + height, :, :]
        for k in range(kernel_size)
    )


@keras.saving.register_keras_serializable(package="ssl_tf")
class GaussianBlur(RandomImageLayer):
    """Blurs each image with sigma drawn uniformly from `sigma`, per image.

    The same sigma serves both axes. Keras 3's `RandomGaussianBlur` draws
    one sigma per batch (and separate ones for x and y), and turns a
    scalar `factor` into a per-image probability drawn from `[0, factor]`.
    Wrap this layer in `RandomApply` for SimCLR's p = 0.5.

    Args:
        kernel_size: Odd integer, the kernel side in pixels.
        sigma: Tuple, the `(low, high)` range of the standard deviation.
        seed: Integer. Seed of the layer's own generator.
    """

    config_keys = ("kernel_size", "sigma")

    def __init__(self, kernel_size=3, sigma=(0.1, 2.0), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(
                "`kernel_size` must be a positive odd integer. Received: "
                f"kernel_size={kernel_size}"
            )
        check_range("sigma", sigma)
        self.kernel_size = kernel_size
        self.sigma = tuple(sigma)

    def sample(self, generator, images):
        batch = tf.shape(images)[0]
        return {"sigma": seeding.uniform(generator, batch, (), *self.sigma)}

    def transform_images(self, images, transformation):
        return gaussian_blur(images, transformation["sigma"], self.kernel_size)
