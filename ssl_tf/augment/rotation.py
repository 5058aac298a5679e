"""All four rotations of every image, for rotation prediction."""

import keras
import tensorflow as tf

from ssl_tf.augment.views import ViewLayer, images_and_sizes


@keras.saving.register_keras_serializable(package="ssl_tf")
class FourRotations(ViewLayer):
    """Stacks each image at 0, 90, 180 and 270 degrees with labels 0..3.

    A batch of n images becomes 4n images: rotation k of image i is at row
    `k * n + i` and equals `np.rot90(image, k)` (counter-clockwise). An
    optional `recipe` (e.g. crop and flip) is applied before rotating.

    Args:
        recipe: Optional augmentation layer applied first; without it
            images are only converted to float32 in [0, 1].

    Reference:
     - [Gidaris et al., 2018](https://arxiv.org/abs/1803.07728)
    """

    def call(self, batch, seed=None):
        images, sizes = images_and_sizes(batch)
        images = self.view(images, seed, 1, sizes)
        rotated = [tf.image.rot90(images, k) for k in range(4)]
        n = tf.shape(images)[0]
        labels = tf.repeat(tf.range(4, dtype=tf.int32), n)
        return {"images": tf.concat(rotated, axis=0), "labels": labels}
