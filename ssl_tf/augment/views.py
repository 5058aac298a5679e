"""View recipes: one augmented view, two views, and the SimCLR recipe."""

import keras
import tensorflow as tf

from ssl_tf.augment import blur, color, crop, frames, seeding
from ssl_tf.augment.layer import float32_kwargs


@keras.saving.register_keras_serializable(package="ssl_tf")
class SimCLRAugment(keras.layers.Layer):
    """The SimCLR augmentation recipe on a batch of images.

    Random resized crop, horizontal flip, colour jitter (p=0.8), grayscale
    (p=0.2), optional Gaussian blur (p=0.5, sigma in [0.1, 2]) and
    solarization, each with per-image random parameters. Takes uint8 (or
    float in [0, 255]) images of any size, returns float32 images in [0, 1]
    of shape `(batch, image_size, image_size, 3)`. Safe inside `tf.data`.

    Pass `seed=<int32 (2,) tensor>` when calling to make the result a pure
    function of that seed (used for exact resume); without it the layer's
    own generators are used. Pass `sizes=` with a full-resolution batch
    (`ssl_tf.augment.frames`): the crop is then cut from each image's own
    pixels, in its own aspect ratio.

    Args:
        image_size: Integer. Output side length.
        crop_scale, crop_ratio: ranges of the random resized crop.
        flip: Boolean. Random horizontal flip.
        jitter_strength: Float. Colour-jitter strength s.
        jitter_prob: Float. Probability of colour jitter.
        grayscale_prob: Float. Probability of grayscale.
        blur: Boolean. Random Gaussian blur with p=0.5.
        solarize_prob: Float. Probability of solarization.
        seed: Integer. Seed for the layers' own generators.
        static_shapes: Boolean. Run every step at the batch's shape (XLA
            and accelerators; see `RandomImageLayer`). Same images.

    Reference:
     - [Chen et al., 2020](https://arxiv.org/abs/2002.05709), appendix A.
    """

    def __init__(
        self,
        image_size,
        crop_scale=(0.08, 1.0),
        crop_ratio=(3 / 4, 4 / 3),
        flip=True,
        jitter_strength=0.5,
        jitter_prob=0.8,
        grayscale_prob=0.2,
        blur=False,
        solarize_prob=0.0,
        seed=None,
        static_shapes=False,
        **kwargs,
    ):
        super().__init__(**float32_kwargs(kwargs))
        self.image_size = image_size
        self.crop_scale = tuple(crop_scale)
        self.crop_ratio = tuple(crop_ratio)
        self.flip = flip
        self.jitter_strength = jitter_strength
        self.jitter_prob = jitter_prob
        self.grayscale_prob = grayscale_prob
        self.blur = blur
        self.solarize_prob = solarize_prob
        self.seed = seed
        self.static_shapes = static_shapes
        self.steps = self._build_steps()

    def _build_steps(self):
        common = {"seed": self.seed, "static_shapes": self.static_shapes}

        def maybe(layer, rate, name):
            return color.RandomApply(layer, rate=rate, **common, name=name)

        steps = [
            crop.RandomResizedCrop(
                self.image_size,
                self.image_size,
                self.crop_scale,
                self.crop_ratio,
                **common,
                name="crop",
            )
        ]
        if self.flip:
            steps.append(crop.RandomFlip(**common, name="flip"))
        if self.jitter_strength > 0 and self.jitter_prob > 0:
            jitter = color.ColorJitter(self.jitter_strength, **common)
            steps.append(maybe(jitter, self.jitter_prob, "jitter"))
        if self.grayscale_prob > 0:
            steps.append(
                maybe(color.Grayscale(), self.grayscale_prob, "grayscale")
            )
        if self.blur:
            # SimCLR: kernel 10% of the image side, sigma in [0.1, 2], p=0.5.
            size = blur.kernel_size_for(self.image_size)
            steps.append(
                maybe(blur.GaussianBlur(size, (0.1, 2.0)), 0.5, "blur")
            )
        if self.solarize_prob > 0:
            steps.append(
                maybe(color.Solarize(), self.solarize_prob, "solarize")
            )
        return steps

    def build(self, input_shape):
        # Sub-layers and random state need no shapes; nothing to create.
        self.built = True

    def augment_with_parameters(self, images, seed=None, sizes=None):
        """The augmented images and each step's per-image parameters.

        Args:
            images: uint8 batch (or float in [0, 255]); with `sizes`, the
                frames of a full-resolution batch.
            seed: int32 `(2,)` tensor or `seeding.RowSeed`, or None.
            sizes: `(batch, 2)` `(height, width)` of each framed image.

        Returns:
            `(images, {step name: transformation})`, e.g. `crop` holds the
            `boxes` normalized to each image, `jitter` its `applied` coin
            and `inner` factors and order, `blur` its coin and `sigma`.
        """
        if sizes is None:
            images = tf.cast(images, tf.float32) / 255.0
        parameters = {}
        for index, step in enumerate(self.steps):
            step_seed = seeding.derive(seed, index)
            if sizes is not None and step.name == "crop":
                # Cut from the uint8 frames, then scale: the crops are
                # small, a float32 copy of the frames would not be.
                transformation = step.get_random_transformation(
                    images, step_seed, sizes
                )
                images = step.transform_images(images, transformation) / 255.0
            else:
                transformation = step.get_random_transformation(
                    images, step_seed
                )
                images = step.transform_images(images, transformation)
            parameters[step.name] = transformation
        return images, parameters

    def call(self, images, seed=None, sizes=None):
        return self.augment_with_parameters(images, seed, sizes)[0]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.image_size, self.image_size, 3)

    def get_config(self):
        return {
            **super().get_config(),
            "image_size": self.image_size,
            "crop_scale": self.crop_scale,
            "crop_ratio": self.crop_ratio,
            "flip": self.flip,
            "jitter_strength": self.jitter_strength,
            "jitter_prob": self.jitter_prob,
            "grayscale_prob": self.grayscale_prob,
            "blur": self.blur,
            "solarize_prob": self.solarize_prob,
            "seed": self.seed,
            "static_shapes": self.static_shapes,
        }


def simclr_recipe(augment_config, image_size, seed=None):
    """The recipe of `AugmentConfig` as a layer (Keras or KerasCV build)."""
    blur = augment_config.blur
    if blur is None:
        blur = image_size >= 64
    if augment_config.backend == "keras_cv":
        return crop.KerasCVAugment(augment_config, image_size, blur, seed)
    return SimCLRAugment(
        image_size,
        crop_scale=augment_config.crop_scale,
        crop_ratio=augment_config.crop_ratio,
        flip=augment_config.flip,
        jitter_strength=augment_config.jitter_strength,
        jitter_prob=augment_config.jitter_prob,
        grayscale_prob=augment_config.grayscale_prob,
        blur=blur,
        solarize_prob=augment_config.solarize_prob,
        seed=seed,
        static_shapes=_on_device(augment_config),
    )


def _on_device(augment_config):
    # The device path runs inside train_step, where XLA may compile it.
    return augment_config.placement == "device"


# Every colour step of `SimCLRAugment` off.
_NO_COLOUR = dict(
    jitter_strength=0.0,
    jitter_prob=0.0,
    grayscale_prob=0.0,
    blur=False,
    solarize_prob=0.0,
)


def crop_flip_recipe(augment_config, image_size, seed=None):
    """The crop and flip of `augment_config`, without any colour change.

    The light recipe for tasks that colour would not help (rotation) and
    the usual supervised augmentation.
    """
    return SimCLRAugment(
        image_size,
        crop_scale=augment_config.crop_scale,
        crop_ratio=augment_config.crop_ratio,
        flip=augment_config.flip,
        **_NO_COLOUR,
        seed=seed,
        static_shapes=_on_device(augment_config),
    )


# Recipe names a method config may choose from; "none" only rescales.
RECIPES = ("simclr", "crop_flip", "none")


def make_recipe(name, augment_config, image_size, seed=None):
    """The recipe layer called `name` (see `RECIPES`).

    "none" is `frames.WholeImage`: the images only rescaled, or resized to
    `image_size` squares from a full-resolution batch.
    """
    if name == "simclr":
        return simclr_recipe(augment_config, image_size, seed)
    if name == "crop_flip":
        return crop_flip_recipe(augment_config, image_size, seed)
    if name == "none":
        return frames.WholeImage(image_size)
    raise ValueError(f"Unknown recipe {name!r}; expected one of {RECIPES}.")


class ViewLayer(keras.layers.Layer):
    """Base of the layers that turn a batch into a method's views.

    Holds an optional augmentation `recipe` and (de)serializes it; `view`
    applies it with its own derived seed, or without a recipe only
    converts the images to float32 in [0, 1]. A batch with `"sizes"` is a
    full-resolution batch (`ssl_tf.augment.frames`); the sizes go to the
    recipe, which makes `image_size` views of it.

    Args:
        recipe: Optional augmentation layer.
    """

    # The view numbers `call` passes to `view`, for pictures of the views.
    view_indices = (1,)

    def __init__(self, recipe=None, **kwargs):
        super().__init__(**float32_kwargs(kwargs))
        self.recipe = recipe

    def build(self, input_shape):
        # Sub-layers and random state need no shapes; nothing to create.
        self.built = True

    def view(self, images, seed, index, sizes=None):
        """View number `index` of `images`; distinct indices draw apart.

        Raises:
            ValueError: for a full-resolution batch (`sizes`) without a
                recipe, which could not bring its images to one size.
        """
        if self.recipe is None:
            if sizes is not None:
                raise ValueError(
                    f"{type(self).__name__} needs a `recipe` for a batch "
                    'with "sizes" (full-resolution images): e.g. '
                    "`WholeImage(image_size)`."
                )
            return tf.cast(images, tf.float32) / 255.0
        kwargs = {} if sizes is None else {"sizes": sizes}
        return self.recipe(images, seed=seeding.derive(seed, index), **kwargs)

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


def images_and_sizes(batch):
    """`(images, sizes or None)` of a batch dict, or `(batch, None)`."""
    if not isinstance(batch, dict):
        return batch, None
    return batch["images"], batch.get("sizes")


@keras.saving.register_keras_serializable(package="ssl_tf")
class TwoViews(ViewLayer):
    """Two independent augmentations of each image: `{view_1, view_2}`.

    Args:
        recipe: The augmentation layer applied twice.
    """

    view_indices = (1, 2)

    def call(self, batch, seed=None):
        images, sizes = images_and_sizes(batch)
        out = {
            "view_1": self.view(images, seed, 1, sizes),
            "view_2": self.view(images, seed, 2, sizes),
        }
        if isinstance(batch, dict) and "labels" in batch:
            out["labels"] = batch["labels"]
        return out


@keras.saving.register_keras_serializable(package="ssl_tf")
class LabeledView(ViewLayer):
    """One augmented view and the labels: `{"images", "labels"}`.

    For supervised training; the images come out as float32 in [0, 1].

    Args:
        recipe: Optional augmentation layer.
    """

    def call(self, batch, seed=None):
        images, sizes = images_and_sizes(batch)
        return {
            "images": self.view(images, seed, 1, sizes),
            "labels": batch["labels"],
        }
