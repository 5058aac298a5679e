"""View recipes: one augmented view, two views, and the SimCLR recipe."""

import keras
import tensorflow as tf

from ssl_tf.augment import crop, frames, seeding
from ssl_tf.augment.layer import float32_kwargs
from ssl_tf.augment.simclr_augment import SimCLRAugment

__all__ = [
    "RECIPES",
    "LabeledView",
    "SimCLRAugment",
    "TwoViews",
    "ViewLayer",
    "crop_flip_recipe",
    "images_and_sizes",
    "make_recipe",
    "simclr_recipe",
]


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
