"""Full-resolution batches: images of many sizes in one padded frame.

A pipeline that crops the full-resolution images (`DataConfig.crop_from`)
hands the views a batch of `(batch, H, W, 3)` uint8 frames, each image
zero-padded at the top left of its frame, and `sizes`, the int32
`(batch, 2)` `(height, width)` of each image. A crop box normalized to its
image (as `RandomResizedCrop` draws it) becomes a box of the frame by
`boxes_in_frame`, so one `tf.image.crop_and_resize` call cuts every crop
from the original pixels and never reads the padding.
"""

import keras
import tensorflow as tf

from ssl_tf.augment.layer import float32_kwargs


def boxes_in_frame(boxes, sizes, frame):
    """Boxes `[y1, x1, y2, x2]` normalized to each image, in frame units.

    `crop_and_resize` maps a normalized `y` to pixel `y * (H - 1)`, so `y`
    of an image of height `h` is pixel `y * (h - 1)`, i.e. `y * (h - 1) /
    (H - 1)` of the frame (likewise for x).

    Args:
        boxes: float32 `(batch, 4)`, normalized to each image.
        sizes: `(batch, 2)` `(height, width)` of each image.
        frame: `(H, W)` of the frame (an int32 tensor or a pair).

    Returns:
        float32 `(batch, 4)` boxes normalized to the frame.
    """
    sizes = tf.cast(sizes, tf.float32)
    frame = tf.cast(frame, tf.float32)
    scale = (sizes - 1.0) / tf.maximum(frame - 1.0, 1.0)[None]
    return boxes * tf.tile(scale, [1, 2])


def crop_frames(frames, boxes, sizes, height, width):
    """float32 crops `(batch, height, width, 3)` of frames, in [0, 255].

    Cut from the frames as they are (uint8): a float32 copy of a batch of
    frames would hold four times their bytes.
    """
    return tf.image.crop_and_resize(
        frames,
        boxes_in_frame(boxes, sizes, tf.shape(frames)[1:3]),
        box_indices=tf.range(tf.shape(frames)[0]),
        crop_size=(height, width),
    )


@keras.saving.register_keras_serializable(package="ssl_tf")
class WholeImage(keras.layers.Layer):
    """The "none" recipe: each whole image as float32 in [0, 1].

    A batch of `image_size` squares is only rescaled. A full-resolution
    batch (`sizes` given) has each image resized to an `image_size`
    square, antialiased and without keeping the aspect ratio, as the
    square path decodes it. Safe inside `tf.data`.

    Args:
        image_size: Integer. Output side of a full-resolution batch.

    Example:
    >>> WholeImage(8)(np.zeros((2, 8, 8, 3), "uint8")).shape
    TensorShape([2, 8, 8, 3])
    """

    def __init__(self, image_size, **kwargs):
        super().__init__(**float32_kwargs(kwargs))
        self.image_size = image_size

    def build(self, input_shape):
        # Nothing to create.
        self.built = True

    def augment_with_parameters(self, images, seed=None, sizes=None):
        """The images and no parameters (the recipe draws nothing)."""
        return self.call(images, seed, sizes), {}

    def call(self, images, seed=None, sizes=None):
        del seed  # nothing is random
        if sizes is None:
            return tf.cast(images, tf.float32) / 255.0
        side = self.image_size

        def resize(element):
            frame, size = element
            image = tf.cast(frame[: size[0], : size[1]], tf.float32)
            return tf.image.resize(image, (side, side), antialias=True)

        squares = tf.map_fn(
            resize,
            (images, tf.cast(sizes, tf.int32)),
            fn_output_signature=tf.TensorSpec((side, side, 3), tf.float32),
        )
        return tf.clip_by_value(tf.round(squares), 0, 255) / 255.0

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.image_size, self.image_size, 3)

    def get_config(self):
        return {**super().get_config(), "image_size": self.image_size}
