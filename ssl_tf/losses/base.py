"""What the contrastive losses share: a temperature, top-1 hits of logits."""

import keras
import tensorflow as tf


class TemperatureLoss(keras.losses.Loss):
    """A `keras.losses.Loss` whose logits are divided by a temperature.

    Args:
        temperature: Float > 0. Softmax temperature.
        name: the loss's name.
    """

    def __init__(self, temperature, name, **kwargs):
        super().__init__(name=name, **kwargs)
        if temperature <= 0:
            raise ValueError(
                "`temperature` must be positive. "
                f"Received: temperature={temperature}"
            )
        self.temperature = temperature

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature}


def top1_hits(logits, labels):
    """float32 `(n,)`: 1 where the label's column has the largest logit.

    The contrastive accuracy of a loss's logits (the positive wins) and a
    classifier's training accuracy, from the logits the loss already has.
    """
    predicted = tf.argmax(logits, axis=1, output_type=tf.int32)
    return tf.cast(tf.equal(predicted, labels), tf.float32)
