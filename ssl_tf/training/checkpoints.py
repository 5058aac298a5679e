"""Checkpoints that make a killed run resumable at the exact step."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time

import keras
import tensorflow as tf

logger = logging.getLogger("ssl_tf.training")


class Checkpointer:
    """Saves and restores model, optimizer and the position in the data.

    Uses `tf.train.CheckpointManager`, which writes a checkpoint's files
    before pointing the `checkpoint` index at it, so a process killed
    mid-save leaves the previous checkpoint as the latest one.

    Args:
        directory: where checkpoints go.
        model: the SSL model (its weights include method state such as
            MoCo's queue and key encoder).
        optimizer: the optimizer (slots, iteration count).
        keep: how many checkpoints to keep.
        writes: whether this process writes `directory`
            (`strategy.writes_files`). A worker that does not restores from
            `directory` but saves each checkpoint into a local scratch
            directory, deleted after the save.
    """

    def __init__(self, directory, model, optimizer, keep=3, writes=True):
        self.directory = directory
        self.writes = writes
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.step_in_epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        # Variables are listed explicitly, by path: TensorFlow's object
        # tracking does not see every variable of a Keras 3 custom layer
        # (e.g. BatchNorm statistics of layers kept in Python lists).
        self.checkpoint = tf.train.Checkpoint(
            model=variables_by_path(model.weights),
            optimizer=variables_by_path(optimizer.variables),
            epoch=self.epoch,
            step_in_epoch=self.step_in_epoch,
        )
        if not writes:
            directory = tempfile.mkdtemp(prefix="ssl_tf-worker-checkpoint-")
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, directory, max_to_keep=keep
        )

    def restore(self):
        """Restores the latest checkpoint; returns `(epoch, step_in_epoch)`.

        `(0, 0)` when there is none.
        """
        latest = tf.train.latest_checkpoint(self.directory)
        if latest is None:
            return 0, 0
        try:
            self.checkpoint.restore(latest).assert_consumed()
        except AssertionError as error:
            raise ValueError(
                f"Checkpoint {latest} does not match this model: was the "
                "config changed since it was written? Use a new run name or "
                f"delete {self.directory}. ({str(error)[:300]})"
            ) from error
        return int(self.epoch.numpy()), int(self.step_in_epoch.numpy())

    def save(self, epoch, step_in_epoch, global_step):
        """Saves the state; returns its path (None on a worker that does
        not write, whose copy is deleted at once)."""
        self.epoch.assign(epoch)
        self.step_in_epoch.assign(step_in_epoch)
        path = self.manager.save(checkpoint_number=global_step)
        if not self.writes:
            shutil.rmtree(self.manager.directory, ignore_errors=True)
            return None
        logger.info(
            "Saved checkpoint %s (epoch %d, step %d)",
            path,
            epoch,
            step_in_epoch,
        )
        return path


def saved_position(directory):
    """`(epoch, step_in_epoch)` of the latest checkpoint in `directory`.

    Read from the checkpoint files alone, without building a model (the
    drift check runs before any). `None` when there is no checkpoint.
    """
    latest = tf.train.latest_checkpoint(directory)
    if latest is None:
        return None
    reader = tf.train.load_checkpoint(latest)
    return tuple(
        int(reader.get_tensor(f"{name}/.ATTRIBUTES/VARIABLE_VALUE"))
        for name in ("epoch", "step_in_epoch")
    )


def variables_by_path(variables):
    """`{index: variable}` in the model's (deterministic) variable order.

    Keyed by position rather than by path: Keras makes layer and optimizer
    names unique per process (`sgd_3/...`), so paths differ between the
    run that saved and the run that restores. Shapes are still checked.
    """
    return {
        f"{index:05d}": variable for index, variable in enumerate(variables)
    }


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or Inf; nothing was saved from that state."""


class CheckpointCallback(keras.callbacks.Callback):
    """Saves every N steps, every T seconds and at each epoch end.

    Before saving it checks that the loss is finite: a NaN or Inf stops
    training with `TrainingDivergedError` naming the step, and the last good
    checkpoint stays the latest.

    Args:
        checkpointer: a `Checkpointer`.
        steps_per_epoch: steps in one epoch.
        every_steps: save every this many steps (0: only at epoch ends).
        every_seconds: also save when this much time has passed.
        start_epoch, start_step: where this run resumed.
    """

    def __init__(
        self,
        checkpointer,
        steps_per_epoch,
        every_steps=0,
        every_seconds=600.0,
        start_epoch=0,
        start_step=0,
    ):
        super().__init__()
        self.checkpointer = checkpointer
        self.steps_per_epoch = steps_per_epoch
        self.every_steps = every_steps
        self.every_seconds = every_seconds
        # Where this run resumed: (epoch, step within it).
        self.resumed_at = (start_epoch, start_step)
        self.epoch, self.offset = self.resumed_at
        self.last_save = time.monotonic()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        # The first epoch of a resumed run starts part-way in, whichever
        # `fit` call runs it; every later epoch starts at step 0.
        start_epoch, start_step = self.resumed_at
        self.offset = start_step if epoch == start_epoch else 0

    def _global_step(self):
        return int(self.model.optimizer.iterations.numpy())

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        step_in_epoch = self.offset + batch + 1
        if loss is not None and not _finite(loss):
            self.model.stop_training = True
            raise TrainingDivergedError(
                f"Loss became {float(loss)} at epoch {self.epoch}, step "
                f"{step_in_epoch} (global step {self._global_step()}). "
                "Training stopped; the last good checkpoint in "
                f"{self.checkpointer.directory} is kept and nothing was "
                "exported."
            )
        due_steps = self.every_steps and step_in_epoch % self.every_steps == 0
        due_time = time.monotonic() - self.last_save >= self.every_seconds
        if (due_steps or due_time) and step_in_epoch < self.steps_per_epoch:
            self.checkpointer.save(
                self.epoch, step_in_epoch, self._global_step()
            )
            self.last_save = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        self.checkpointer.save(epoch + 1, 0, self._global_step())
        self.last_save = time.monotonic()


def _finite(value):
    try:
        return bool(tf.math.is_finite(float(value)))
    except (TypeError, ValueError):
        return True


def run_directory_is_writable(path):
    """True if `path` can be created and written.

    Probes the nearest existing ancestor with a real temporary file:
    `os.access` says yes to root for read-only mounts and for paths under
    a regular file.
    """
    probe = os.path.abspath(path)
    while not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            return False
        probe = parent
    if not os.path.isdir(probe):
        return False
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError:
        return False
    return True
