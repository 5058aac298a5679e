"""`SimCLRAugment`: the SimCLR augmentation recipe as one batched layer."""

import keras
import tensorflow as tf

from ssl_tf.augment import blur, color, crop, seeding
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
