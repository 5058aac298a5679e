"""Crops and flips, vectorized over the batch with per-image parameters.

This is the one module that imports KerasCV (for the comparison backend).
"""

import math

import keras
import tensorflow as tf

from ssl_tf.augment import color, frames, seeding
from ssl_tf.augment.blur import kernel_size_for
from ssl_tf.augment.layer import (
    RandomImageLayer,
    check_range,
    float32_kwargs,
)

# Candidates drawn per image; the first that fits inside the image is used,
# as torchvision's RandomResizedCrop tries 10 times before falling back.
_ATTEMPTS = 10


def _interpolation_matrix(start, end, size, out_size):
    """Bilinear weights `(batch, out_size, size)` of `crop_and_resize`.

    Output sample `i` of box side `[start, end]` (normalized) sits at
    `start * (size - 1) + i * (end - start) * (size - 1) / (out_size - 1)`
    and mixes its two neighbouring pixels.
    """
    scale = (size - 1) / max(out_size - 1, 1)
    steps = tf.range(out_size, dtype=tf.float32)
    if out_size > 1:
        position = start[:, None] * (size - 1) + steps[None] * (
            (end - start)[:, None] * scale
        )
    else:
        position = (0.5 * (start + end) * (size - 1))[:, None]
    position = tf.clip_by_value(position, 0.0, size - 1.0)
    low = tf.floor(position)
    fraction = position - low
    low = tf.cast(low, tf.int32)
    high = tf.minimum(low + 1, size - 1)
    return (1.0 - fraction)[..., None] * tf.one_hot(low, size) + fraction[
        ..., None
    ] * tf.one_hot(high, size)


def crop_and_resize_by_matmul(images, boxes, height, width):
    """`tf.image.crop_and_resize` (bilinear) as two batched matmuls.

    Each output image is `W_y @ image @ W_x^T` with the per-image bilinear
    weight matrices of its box: static shapes and dense math, so it
    compiles with XLA (which has no `CropAndResize` kernel) and suits GPUs
    and TPUs. It costs `O(height * H * W)` per image, so on a host with
    large source images `crop_and_resize` is cheaper. Boxes must lie
    inside the image (no extrapolation), as the random resized crop's do.
    """
    images = tf.convert_to_tensor(images, tf.float32)
    size_y, size_x = images.shape[1], images.shape[2]
    rows = _interpolation_matrix(boxes[:, 0], boxes[:, 2], size_y, height)
    cols = _interpolation_matrix(boxes[:, 1], boxes[:, 3], size_x, width)
    out = tf.einsum("bih,bhwc->biwc", rows, images)
    return tf.einsum("bjw,biwc->bijc", cols, out)


class _Crop(RandomImageLayer):
    """Base of the crops: a `height x width` output per image."""

    config_keys = ("height", "width")

    def __init__(self, height, width, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.height = height
        self.width = width

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.height, self.width, input_shape[-1])


@keras.saving.register_keras_serializable(package="ssl_tf")
class RandomResizedCrop(_Crop):
    """Crops a random area and aspect ratio of each image, resizes it.

    Every image in the batch gets its own box; all boxes are cut and resized
    by one `crop_and_resize` call (KerasCV's `RandomCropAndResize` loops over
    images and was measured ~3x slower here). Safe inside `tf.data`.

    Given `sizes` (a full-resolution batch, `ssl_tf.augment.frames`), each
    box is drawn in its own image's aspect ratio, normalized to the image
    (`boxes`), and cut from the image's pixels in its frame.

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

    config_keys = ("height", "width", "scale", "ratio")

    def __init__(
        self,
        height,
        width,
        scale=(0.08, 1.0),
        ratio=(3 / 4, 4 / 3),
        seed=None,
        **kwargs,
    ):
        super().__init__(height, width, seed=seed, **kwargs)
        check_range("scale", scale, high=1)
        check_range("ratio", ratio)
        self.scale = tuple(scale)
        self.ratio = tuple(ratio)

    def sample_boxes(self, batch_size, aspect, seed):
        """Normalized `[y1, x1, y2, x2]` boxes, one per image.

        `aspect` is the input's width / height, so `ratio` is measured in
        pixels as in torchvision.
        """
        shape = (_ATTEMPTS,)
        area = seeding.uniform(seed, batch_size, shape, *self.scale)
        log_ratio = seeding.uniform(
            seed,
            batch_size,
            shape,
            math.log(self.ratio[0]),
            math.log(self.ratio[1]),
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
        y = seeding.uniform(seed, batch_size) * (1.0 - h)
        x = seeding.uniform(seed, batch_size) * (1.0 - w)
        return tf.stack([y, x, y + h, x + w], axis=1)

    def sample(self, generator, images):
        shape = tf.shape(images)
        aspect = tf.cast(shape[2], tf.float32) / tf.cast(shape[1], tf.float32)
        return {"boxes": self.sample_boxes(shape[0], aspect, generator)}

    def get_random_transformation(self, images, seed=None, sizes=None):
        """The boxes; with `sizes` `(batch, 2)`, in each image's own frame.

        `aspect` is then `(batch, 1)`: an image of height h and width w
        draws exactly the box a batch of h x w images would draw, whatever
        the frame and the other images.
        """
        if sizes is None:
            return super().get_random_transformation(images, seed)
        generator = seeding.seed_source(self, seed)
        heights, widths = tf.unstack(tf.cast(sizes, tf.float32), axis=1)
        aspect = (widths / heights)[:, None]
        boxes = self.sample_boxes(tf.shape(images)[0], aspect, generator)
        return {"boxes": boxes, "sizes": sizes}

    def call(self, images, seed=None, sizes=None):
        transformation = self.get_random_transformation(images, seed, sizes)
        return self.transform_images(images, transformation)

    def transform_images(self, images, transformation):
        if "sizes" in transformation:
            return frames.crop_frames(
                images,
                transformation["boxes"],
                transformation["sizes"],
                self.height,
                self.width,
            )
        images = tf.cast(images, tf.float32)
        if self.static_shapes and images.shape[1] and images.shape[2]:
            return crop_and_resize_by_matmul(
                images, transformation["boxes"], self.height, self.width
            )
        return tf.image.crop_and_resize(
            images,
            transformation["boxes"],
            box_indices=tf.range(tf.shape(images)[0]),
            crop_size=(self.height, self.width),
        )


@keras.saving.register_keras_serializable(package="ssl_tf")
class RandomCrop(_Crop):
    """Zero-pads by `padding`, then cuts a `height x width` window per image.

    The usual CIFAR training crop. Keras 3's `RandomCrop` draws one offset
    for the whole batch; here every image has its own integer offset,
    uniform over the `(2 * padding + 1)^2` positions, and pixels are copied
    (no interpolation).

    Args:
        height: Integer. Output height (the input height).
        width: Integer. Output width (the input width).
        padding: Integer. Zero padding on each side.
        seed: Integer. Seed of the layer's own generator.
    """

    config_keys = ("height", "width", "padding")

    def __init__(self, height, width, padding=4, seed=None, **kwargs):
        super().__init__(height, width, seed=seed, **kwargs)
        if padding < 0:
            raise ValueError(
                f"`padding` must be >= 0. Received: padding={padding}"
            )
        self.padding = padding

    def sample(self, generator, images):
        shape = tf.shape(images)
        free = [shape[1] + 2 * self.padding - self.height]
        free.append(shape[2] + 2 * self.padding - self.width)
        draws = seeding.uniform(generator, shape[0], (2,))
        # floor(u * (free + 1)) is uniform over 0..free (u < 1).
        limit = tf.cast(tf.stack(free) + 1, tf.float32)
        offsets = tf.cast(tf.floor(draws * limit), tf.int32)
        return {"offsets": tf.minimum(offsets, tf.stack(free))}

    def transform_images(self, images, transformation):
        p = self.padding
        padded = tf.pad(images, [[0, 0], [p, p], [p, p], [0, 0]])
        offsets = transformation["offsets"]
        rows = offsets[:, :1] + tf.range(self.height)[None]
        cols = offsets[:, 1:] + tf.range(self.width)[None]
        out = tf.gather(padded, rows, axis=1, batch_dims=1)
        return tf.gather(out, cols, axis=2, batch_dims=1)


@keras.saving.register_keras_serializable(package="ssl_tf")
class RandomFlip(RandomImageLayer):
    """Mirrors each image left-right with probability 1/2, per image."""

    def sample(self, generator, images):
        return {"flip": seeding.coin(generator, tf.shape(images)[0], 0.5)}

    def transform_images(self, images, transformation):
        return color.apply_to_selected(
            images,
            transformation["flip"],
            lambda subset, _: tf.reverse(subset, axis=[2]),
            {},
            self.static_shapes,
        )


def keras_cv_random_resized_crop(height, width, scale, ratio, seed=None):
    """KerasCV's per-image-loop equivalent, for comparison benchmarks."""
    import keras_cv  # optional dependency, imported here only

    return keras_cv.layers.RandomCropAndResize(
        target_size=(height, width),
        crop_area_factor=tuple(scale),
        aspect_ratio_factor=tuple(ratio),
        seed=seed,
    )


def keras_cv_uniform_multiplier(low, high, seed=None):
    """A KerasCV factor sampler whose saturation multiplier is U(low, high).

    KerasCV's `RandomSaturation` multiplies the saturation by `f / (1 - f)`
    and samples `f` itself uniformly: its stock range `0.5 +- 0.4 s` gives
    multipliers from about 0.43 to 2.33, skewed towards desaturation
    whatever the range. Drawing the multiplier `m` uniformly and handing
    KerasCV `f = m / (1 + m)` makes the multiplier exactly the recipe's.
    """
    from keras_cv.core import FactorSampler  # optional dependency

    class UniformMultiplier(FactorSampler):
        def __call__(self, shape=(), dtype="float32"):
            m = tf.random.uniform(shape, low, high, dtype=dtype, seed=seed)
            return m / (1.0 + m)

        def get_config(self):
            return {"low": low, "high": high, "seed": seed}

    return UniformMultiplier()


class KerasCVColorJitter(keras.layers.Layer):
    """SimCLR's colour jitter from KerasCV's four layers, in a random order.

    KerasCV's `RandomColorJitter` always applies brightness, contrast,
    saturation and hue in that order; here each image draws its own order
    (as `color.ColorJitter` does) and, at each of the 4 positions, every
    KerasCV layer transforms the images whose order names it there.
    Brightness is additive (KerasCV has no multiplicative one; SimCLR v1's
    rule), contrast is `U(1 - 0.8 s, 1 + 0.8 s)` per image, the saturation
    multiplier is uniform on the same range (`keras_cv_uniform_multiplier`)
    and hue shifts by up to `0.2 s`.

    Args:
        strength: Float. The colour-jitter strength `s`.
        seed: Integer. Seed of the KerasCV layers and of the order.
    """

    def __init__(self, strength, seed=None, **kwargs):
        super().__init__(**float32_kwargs(kwargs))
        import keras_cv  # optional dependency, imported here only

        self.strength = strength
        self.seed = seed
        amount = 0.8 * strength
        low, high = max(1.0 - amount, 0.0), 1.0 + amount
        layers = keras_cv.layers
        self.adjustments = [
            layers.RandomBrightness(amount, value_range=(0, 1), seed=seed),
            layers.RandomContrast((0, 1), amount, seed=seed),
            layers.RandomSaturation(
                keras_cv_uniform_multiplier(low, high, seed), seed=seed
            ),
            # KerasCV shifts hue by up to factor / 2.
            layers.RandomHue(0.4 * strength, (0, 1), seed=seed),
        ]
        self.generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        # Sub-layers and random state need no shapes; nothing to create.
        self.built = True

    def sample_order(self, batch_size):
        """A uniform random permutation of the 4 adjustments per image."""
        keys = keras.random.uniform(
            (batch_size, len(self.adjustments)), seed=self.generator
        )
        return tf.argsort(keys, axis=1, stable=True, direction="ASCENDING")

    def call(self, images):
        if isinstance(images, dict):
            # KerasCV's `RandomApply` calls its layer on one image at a
            # time, as `{"images": (height, width, channels)}`.
            return {**images, "images": self.call(images["images"][None])[0]}
        count = len(self.adjustments)
        order = tf.cast(self.sample_order(tf.shape(images)[0]), tf.int32)
        rows = tf.range(tf.shape(images)[0])
        for position in range(count):
            chosen = order[:, position]
            parts = tf.dynamic_partition(images, chosen, count)
            part_rows = tf.dynamic_partition(rows, chosen, count)
            adjusted = [
                tf.clip_by_value(layer(part), 0.0, 1.0)
                for layer, part in zip(self.adjustments, parts, strict=True)
            ]
            images = tf.ensure_shape(
                tf.dynamic_stitch(part_rows, adjusted), images.shape
            )
        return images


class KerasCVAugment(keras.layers.Layer):
    """The same recipe from KerasCV layers, for comparison.

    KerasCV layers keep their own random state, so runs with this backend
    are not step-seeded: a resumed run sees different augmentations.
    """

    def __init__(self, augment_config, image_size, blur, seed=None, **kwargs):
        super().__init__(**float32_kwargs(kwargs))
        import keras_cv  # optional dependency, imported only for this backend

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
                KerasCVColorJitter(augment_config.jitter_strength, seed=seed),
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
            kernel = kernel_size_for(image_size)
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
