"""Colour augmentations of the SimCLR recipe, on float batches in [0, 1].

Written here rather than taken from Keras 3.15, whose layers do not sample
what the recipe needs: `RandomContrast(f)` only ever raises contrast
(factors in `[1, 1 + f]`), `RandomSaturation` is uniform in its own factor
rather than in the multiplier, and the jitter order is fixed. Every layer
here draws its parameters per image (see `RandomImageLayer`).
"""

import keras
import tensorflow as tf

from ssl_tf.augment import seeding
from ssl_tf.augment.layer import RandomImageLayer

# ITU-R 601 luma, as `tf.image.rgb_to_grayscale`.
_LUMA = (0.2989, 0.5870, 0.1140)


def grayscale(images):
    """The luma of each pixel, repeated on the 3 channels."""
    luma = tf.tensordot(images, tf.constant(_LUMA, images.dtype), axes=1)
    return tf.repeat(luma[..., None], 3, axis=-1)


def _per_image(values):
    return values[:, None, None, None]


def apply_to_selected(
    images, selected, transform, transformation, static_shapes=False
):
    """`transform` applied to the images where `selected`, others unchanged.

    By default only the selected images are computed: they are gathered
    with their parameters, transformed and scattered back (cheaper than
    transforming the batch and choosing with `tf.where`, which was
    measured slower than the transform itself on CPU). With
    `static_shapes` the whole batch is transformed and the result chosen
    per image: fixed shapes, for XLA.

    Args:
        images: float batch.
        selected: boolean `(batch,)`.
        transform: `transform(images, transformation)` for a sub-batch.
        transformation: per-image parameters (a nest of `(batch, ...)`).
        static_shapes: Boolean. Transform every image and select.
    """
    if static_shapes:
        changed = transform(images, transformation)
        return tf.where(selected[:, None, None, None], changed, images)
    rows = tf.where(selected)[:, 0]
    subset = tf.nest.map_structure(
        lambda values: tf.gather(values, rows), transformation
    )
    changed = transform(tf.gather(images, rows), subset)
    return tf.tensor_scatter_nd_update(images, rows[:, None], changed)


def adjust_brightness(images, factor):
    """`images * factor`, per image (SimCLR v2's and torchvision's rule)."""
    return tf.clip_by_value(images * _per_image(factor), 0.0, 1.0)


def adjust_contrast(images, factor):
    """Scales each channel's deviation from its mean, as `adjust_contrast`."""
    mean = tf.reduce_mean(images, axis=(1, 2), keepdims=True)
    factor = _per_image(factor)
    # x * f + mean * (1 - f): one broadcast fewer than (x - mean) * f + mean.
    out = images * factor + mean * (1.0 - factor)
    return tf.clip_by_value(out, 0.0, 1.0)


def adjust_saturation(images, factor):
    """Blends each image with its grayscale: 0 is gray, 1 is unchanged.

    torchvision's rule (used by MoCo, BYOL and the lightly peer); it needs
    no HSV round trip, unlike SimCLR's TF code, which scales the HSV
    saturation by the same factor.
    """
    gray = grayscale(images)
    out = gray + (images - gray) * _per_image(factor)
    return tf.clip_by_value(out, 0.0, 1.0)


def adjust_hue(images, delta):
    """Rotates the hue by `delta` turns (per image), in HSV."""
    hsv = tf.image.rgb_to_hsv(images)
    hue = tf.math.floormod(hsv[..., 0] + delta[:, None, None], 1.0)
    hsv = tf.concat([hue[..., None], hsv[..., 1:]], axis=-1)
    return tf.clip_by_value(tf.image.hsv_to_rgb(hsv), 0.0, 1.0)


_ADJUSTMENTS = (
    ("brightness", adjust_brightness),
    ("contrast", adjust_contrast),
    ("saturation", adjust_saturation),
    ("hue", adjust_hue),
)


@keras.saving.register_keras_serializable(package="ssl_tf")
class ColorJitter(RandomImageLayer):
    """SimCLR's colour distortion of strength `s`, drawn per image.

    Brightness, contrast and saturation multiply by factors drawn uniformly
    from `[max(0, 1 - 0.8 s), 1 + 0.8 s]`, hue shifts by a value uniform in
    `[-0.2 s, 0.2 s]`, and the four are applied in a random order per
    image, clipping to [0, 1] after each (SimCLR's `color_jitter_rand`,
    torchvision's `ColorJitter`). Wrap it in `RandomApply` for the
    recipe's p = 0.8.

    At each of the four positions the batch is partitioned by the
    adjustment each image's order names there, each part is adjusted, and
    the parts are stitched back: the arithmetic of a fixed order, without
    a per-image loop. (The partition sizes are dynamic, so this layer does
    not compile with XLA.)

    Args:
        strength: Float. The `s` of the SimCLR paper (0.5 for CIFAR).
        random_order: Boolean. Shuffle the order per image (else the
            order is brightness, contrast, saturation, hue).
        seed: Integer. Seed of the layer's own generator.

    Reference:
     - [Chen et al., 2020](https://arxiv.org/abs/2002.05709), appendix A.
    """

    config_keys = ("strength", "random_order")

    def __init__(self, strength=0.5, random_order=True, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if strength < 0:
            raise ValueError(
                f"`strength` must be >= 0. Received: strength={strength}"
            )
        self.strength = strength
        self.random_order = random_order

    def factor_range(self):
        """The `(low, high)` range of the three multiplicative factors."""
        amount = 0.8 * self.strength
        return max(1.0 - amount, 0.0), 1.0 + amount

    def sample(self, generator, images):
        batch = tf.shape(images)[0]
        low, high = self.factor_range()
        shift = 0.2 * self.strength
        params = {
            name: seeding.uniform(generator, batch, (), low, high)
            for name in ("brightness", "contrast", "saturation")
        }
        params["hue"] = seeding.uniform(generator, batch, (), -shift, shift)
        if self.random_order:
            # argsort of i.i.d. uniforms is a uniform random permutation.
            keys = seeding.uniform(generator, batch, (len(_ADJUSTMENTS),))
            order = tf.argsort(keys, axis=1, stable=True)
        else:
            order = tf.tile(tf.range(len(_ADJUSTMENTS))[None], [batch, 1])
        params["order"] = tf.cast(order, tf.int32)
        return params

    def transform_images(self, images, transformation):
        order = transformation["order"]
        if self.static_shapes:
            return self._transform_static(images, transformation, order)
        rows = tf.range(tf.shape(images)[0])
        count = len(_ADJUSTMENTS)
        for position in range(count):
            chosen = order[:, position]
            parts = tf.dynamic_partition(images, chosen, count)
            part_rows = tf.dynamic_partition(rows, chosen, count)
            adjusted = [
                adjust(part, tf.gather(transformation[name], where))
                for (name, adjust), part, where in zip(
                    _ADJUSTMENTS, parts, part_rows, strict=True
                )
            ]
            stitched = tf.dynamic_stitch(part_rows, adjusted)
            images = tf.ensure_shape(stitched, images.shape)
        return images

    def _transform_static(self, images, transformation, order):
        # Every adjustment of every image at each position, then each
        # image keeps the one its order names: 4x the arithmetic, fixed
        # shapes.
        for position in range(len(_ADJUSTMENTS)):
            candidates = tf.stack(
                [
                    adjust(images, transformation[name])
                    for name, adjust in _ADJUSTMENTS
                ]
            )
            chosen = tf.one_hot(order[:, position], len(_ADJUSTMENTS))
            images = tf.einsum("kbhwc,bk->bhwc", candidates, chosen)
        return images


@keras.saving.register_keras_serializable(package="ssl_tf")
class Grayscale(RandomImageLayer):
    """Converts every image to grayscale (3 channels); wrap in `RandomApply`."""

    def sample(self, generator, images):
        return {}

    def transform_images(self, images, transformation):
        return grayscale(images)


@keras.saving.register_keras_serializable(package="ssl_tf")
class Solarize(RandomImageLayer):
    """Inverts pixels at or above 0.5 (BYOL); wrap in `RandomApply`."""

    def sample(self, generator, images):
        return {}

    def transform_images(self, images, transformation):
        return tf.where(images < 0.5, images, 1.0 - images)


@keras.saving.register_keras_serializable(package="ssl_tf")
class RandomApply(RandomImageLayer):
    """Applies `layer` to each image of a batch with probability `rate`.

    A per-image coin picks the images; only those are transformed, in one
    vectorized call (`apply_to_selected`). The transformation holds
    the coin (`applied`) and the inner layer's parameters (`inner`).

    Args:
        layer: A `RandomImageLayer`.
        rate: Float. Probability of applying `layer` to an image.
        seed: Integer. Seed for the layer's own generator.
    """

    def __init__(self, layer, rate=0.5, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if not 0 <= rate <= 1:
            raise ValueError(f"`rate` must be in [0, 1]. Received: rate={rate}")
        self.layer = layer
        self.rate = rate

    def get_random_transformation(self, images, seed=None):
        source = seeding.seed_source(self, seeding.derive(seed, 1))
        applied = seeding.coin(source, tf.shape(images)[0], self.rate)
        inner = self.layer.get_random_transformation(
            images, seeding.derive(seed, 2)
        )
        return {"applied": applied, "inner": inner}

    def transform_images(self, images, transformation):
        return apply_to_selected(
            images,
            transformation["applied"],
            self.layer.transform_images,
            transformation["inner"],
            self.static_shapes,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "layer": keras.saving.serialize_keras_object(self.layer),
            "rate": self.rate,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["layer"] = keras.saving.deserialize_keras_object(config["layer"])
        return cls(**config)
