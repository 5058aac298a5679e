"""Callbacks for pretraining: TensorBoard pictures and data summaries."""

import logging

import keras
import numpy as np
import tensorflow as tf

logger = logging.getLogger("ssl_tf.training")


class ViewGridCallback(keras.callbacks.Callback):
    """Writes the recipe picture to TensorBoard when training starts.

    The picture (`ssl_tf.augment.preview`) shows each original beside its
    views, enlarged, with the sampled crop, jitter and blur written under
    them; the same parameters go out as a text summary.

    Args:
        log_dir: TensorBoard directory (the `train` writer is used).
        picture: an `ssl_tf.augment.Preview`.
    """

    def __init__(self, log_dir, picture):
        super().__init__()
        self.log_dir = log_dir
        self.picture = picture

    def on_train_begin(self, logs=None):
        writer = tf.summary.create_file_writer(f"{self.log_dir}/train")
        with writer.as_default():
            image = np.asarray(self.picture.image, np.float32) / 255.0
            tf.summary.image("augmented_views", image[None], step=0)
            tf.summary.text(
                "augmentation_parameters", self.picture.markdown, step=0
            )
        writer.flush()


class ScanSummaryCallback(keras.callbacks.Callback):
    """Logs the skipped-image summary of the source at every epoch end."""

    def __init__(self, report):
        super().__init__()
        self.report = report

    def on_epoch_end(self, epoch, logs=None):
        if self.report is not None and self.report.skipped:
            logger.warning(
                "Epoch %d data summary: %s", epoch, self.report.summary()
            )
