"""Callbacks for pretraining: TensorBoard pictures and data summaries."""

import logging

import keras
import numpy as np
import tensorflow as tf

logger = logging.getLogger("ssl_tf.training")


def view_grid(view_1, view_2, pairs=8):
    """One image: rows of (view_1, view_2) pairs side by side, in [0, 1]."""
    view_1 = np.asarray(view_1[:pairs], np.float32)
    view_2 = np.asarray(view_2[:pairs], np.float32)
    rows = [
        np.concatenate([a, b], axis=1)
        for a, b in zip(view_1, view_2, strict=True)
    ]
    return np.clip(np.concatenate(rows, axis=0), 0.0, 1.0)


class ViewGridCallback(keras.callbacks.Callback):
    """Writes a grid of augmented view pairs to TensorBoard at the start.

    Args:
        log_dir: TensorBoard directory (the `train` writer is used).
        batch: one batch of model inputs (`view_1`/`view_2`, or `images`).
    """

    def __init__(self, log_dir, batch):
        super().__init__()
        self.log_dir = log_dir
        self.batch = batch

    def on_train_begin(self, logs=None):
        if "view_1" in self.batch:
            grid = view_grid(self.batch["view_1"], self.batch["view_2"])
        else:
            images = np.asarray(self.batch["images"][:16], np.float32)
            grid = np.clip(np.concatenate(list(images), axis=1), 0, 1)
        writer = tf.summary.create_file_writer(f"{self.log_dir}/train")
        with writer.as_default():
            tf.summary.image("augmented_views", grid[None], step=0)
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
