"""`RandomImageLayer`: the base of every per-image random augmentation."""

import keras

from ssl_tf.augment import seeding


def check_range(name, value, high=None):
    """Raises `ValueError` unless `value = (low, top)` has `0 < low <= top`.

    With `high`, `top <= high` is required too.
    """
    low, top = value
    if not (0 < low <= top and (high is None or top <= high)):
        bound = "" if high is None else f" <= {high}"
        raise ValueError(
            f"`{name}` must satisfy 0 < low <= high{bound}. "
            f"Received: {name}={value}"
        )


def float32_kwargs(kwargs):
    """Layer kwargs with `dtype="float32"` unless the caller chose one.

    Augmentation works on float32 images in [0, 1] whatever the global
    mixed-precision policy: under `mixed_bfloat16` the layers would
    otherwise cast their outputs to bfloat16 and meet float32 parameters.
    The encoder casts its input to its own compute dtype.
    """
    return {"dtype": "float32", **kwargs}


class RandomImageLayer(keras.layers.Layer):
    """A batched image augmentation with its own parameters for each image.

    Works in two steps, like Keras 3's random preprocessing layers:
    `get_random_transformation` draws one set of parameters per image (a
    dict of tensors whose first axis is the batch), `transform_images`
    applies them. Unlike several stock Keras layers, nothing is drawn once
    per batch. The parameters of image `i` depend only on the seed and on
    `i`'s row in the global batch (see `seeding.RowSeed`), so they are the
    same in `tf.data`, in `train_step` and on any number of replicas.

    Subclasses implement `sample(generator, images)` and
    `transform_images(images, transformation)`; deterministic transforms
    return `{}` from `sample`. A subclass with constructor arguments of its
    own keeps each as an attribute of the same name and lists them, in
    order, in `config_keys`; `get_config` saves them.

    Two ways to run the same arithmetic. By default a layer transforms
    only the images it picks (gathers, partitions: the least work on a
    CPU host). With `static_shapes=True` every tensor keeps the batch's
    shape (every image is transformed and the picks are selected), which
    compiles with XLA and suits accelerators: the augmentation on the
    device path (`augment.placement=device`) runs this way.

    Args:
        seed: Integer. Seed of the layer's own generator, used when `call`
            gets no `seed` tensor.
        static_shapes: Boolean. Keep every tensor at the batch's shape.
    """

    config_keys = ()

    def __init__(self, seed=None, static_shapes=False, **kwargs):
        super().__init__(**float32_kwargs(kwargs))
        self.seed = seed
        self.static_shapes = static_shapes
        self.generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        # Sub-layers and random state need no shapes; nothing to create.
        self.built = True

    def sample(self, generator, images):
        """Per-image parameters drawn from `generator`."""
        raise NotImplementedError

    def get_random_transformation(self, images, seed=None):
        """The parameters for `images`, a pure function of a `seed` tensor.

        Args:
            images: float32 batch `(batch, height, width, channels)`.
            seed: int32 `(2,)` tensor or `seeding.RowSeed`; `None` draws
                from the layer's own generator.
        """
        return self.sample(seeding.seed_source(self, seed), images)

    def transform_images(self, images, transformation):
        raise NotImplementedError

    def call(self, images, seed=None):
        transformation = self.get_random_transformation(images, seed)
        return self.transform_images(images, transformation)

    def get_config(self):
        return {
            **super().get_config(),
            "seed": self.seed,
            "static_shapes": self.static_shapes,
            **{key: getattr(self, key) for key in self.config_keys},
        }
