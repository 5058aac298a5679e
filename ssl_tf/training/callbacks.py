"""Callbacks for pretraining: TensorBoard pictures, data summaries, kNN."""

import logging
import os

import keras
import numpy as np
import tensorflow as tf

from ssl_tf.evaluation import knn
from ssl_tf.training import checkpoints

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


def labelled_sample(source, count, seed, shuffle_buffer):
    """`(images, labels)`: `count` images of `source`, drawn with `seed`.

    Drawn through a shuffle buffer as the streamed pretraining data is, so
    a large split is not read whole; a split no larger than the buffer is
    sampled uniformly.
    """
    shuffled = source.shuffle(
        max(shuffle_buffer, 1), seed=seed, reshuffle_each_iteration=False
    )
    batch = next(iter(shuffled.batch(count)))
    return batch["images"].numpy(), batch["labels"].numpy()


def knn_monitor(config, train_source, eval_source):
    """The `KNNMonitor` of `train.knn_monitor_every`.

    Its memory bank is a seeded sample of `train.knn_monitor_examples`
    labelled training images, its queries a sample of as many images of
    `data.eval_split`; both are read once, here.

    Args:
        config: the `ssl_tf.ExperimentConfig`.
        train_source, eval_source: labelled sources of the two splits.
    """
    count = config.train.knn_monitor_examples
    seed, buffer = config.train.seed, config.data.shuffle_buffer
    return knn.KNNMonitor(
        *labelled_sample(train_source, count, seed, buffer),
        *labelled_sample(eval_source, count, seed + 1, buffer),
        every_n_epochs=config.train.knn_monitor_every,
    )


def pretrain_callbacks(plan, state, extra_callbacks=()):
    """The callbacks of `pretrain`, in the order they must run.

    Checkpoints, the kNN monitor (if on), TensorBoard and the recipe
    picture (on the process that writes the run's files), the data
    summary, then `extra_callbacks`.

    Args:
        plan: the run's `ssl_tf.training.plan.Plan`.
        state: the run's `ssl_tf.training.run.State`.
        extra_callbacks: the caller's callbacks.
    """
    config = plan.config
    logs = os.path.join(state.directory, "logs")
    monitor = []
    if plan.eval_source is not None:
        # Before TensorBoard: it writes the epoch logs as they are then.
        monitor = [knn_monitor(config, plan.source.dataset(), plan.eval_source)]
    # TensorBoard files come from the one process that writes the run.
    writers = []
    if state.checkpointer.writes:
        writers = [
            keras.callbacks.TensorBoard(
                logs, update_freq="epoch", profile_batch=0, write_graph=False
            ),
            ViewGridCallback(logs, state.picture),
        ]
    return [
        checkpoints.CheckpointCallback(
            state.checkpointer,
            plan.steps,
            every_steps=config.train.checkpoint_every_steps,
            every_seconds=config.train.checkpoint_every_seconds,
            start_epoch=state.resumed_from[0],
            start_step=state.resumed_from[1],
        ),
        *monitor,
        *writers,
        ScanSummaryCallback(plan.source.info.scan),
        *extra_callbacks,
    ]
