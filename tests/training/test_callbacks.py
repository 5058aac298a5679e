"""The pretraining callbacks: what they write, log, save and sample."""

import glob
import os
import types

import keras
import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from ssl_tf.data import load_arrays
from ssl_tf.evaluation import KNNMonitor
from ssl_tf.testing import TestCase, smoke_config
from ssl_tf.training import callbacks, checkpoints


def summaries(log_dir):
    """`{tag: tensor}` of every summary under `log_dir/train`."""
    found = {}
    for path in glob.glob(os.path.join(log_dir, "train", "events*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                found[value.tag] = tf.make_ndarray(value.tensor)
    return found


class ViewGridCallbackTest(TestCase):
    def test_writes_the_picture_and_its_parameters(self):
        log_dir = self.get_temp_dir()
        image = np.random.default_rng(0).integers(0, 256, (6, 10, 3), np.uint8)
        picture = types.SimpleNamespace(image=image, markdown="| crop |")
        callbacks.ViewGridCallback(log_dir, picture).on_train_begin()
        found = summaries(log_dir)
        # tf.summary.image stores [width, height, PNG]: the PNG decodes to
        # the picture itself (x / 255 back to uint8 is exact).
        width, height, png = found["augmented_views"]
        self.assertEqual((int(width), int(height)), (10, 6))
        self.assertAllEqual(tf.io.decode_png(png), image)
        self.assertEqual(found["augmentation_parameters"], b"| crop |")


class ScanSummaryCallbackTest(TestCase):
    def test_logs_the_summary_when_images_were_skipped(self):
        report = types.SimpleNamespace(
            skipped=(("a.png", "truncated"),),
            summary=lambda: "9 usable, 1 skipped",
        )
        with self.assertLogs("ssl_tf.training", "WARNING") as logs:
            callbacks.ScanSummaryCallback(report).on_epoch_end(3)
        self.assertEqual(
            logs.output,
            [
                "WARNING:ssl_tf.training:Epoch 3 data summary: "
                "9 usable, 1 skipped"
            ],
        )

    @parameterized.named_parameters(
        ("no_report", None),
        ("nothing_skipped", types.SimpleNamespace(skipped=())),
    )
    def test_silent_without_skipped_images(self, report):
        with self.assertNoLogs("ssl_tf.training"):
            callbacks.ScanSummaryCallback(report).on_epoch_end(0)


class RecordingCheckpointer:
    directory = "/runs/x/checkpoints"

    def __init__(self, writes=True):
        self.saves = []
        self.writes = writes

    def save(self, epoch, step_in_epoch, global_step):
        self.saves.append((epoch, step_in_epoch, global_step))


def fake_model(iterations):
    optimizer = types.SimpleNamespace(iterations=tf.Variable(iterations))
    return types.SimpleNamespace(optimizer=optimizer, stop_training=False)


class CheckpointCallbackTest(TestCase):
    def test_resumed_epoch_counts_from_its_start_step(self):
        # Resumed at epoch 1, step 2 of 4, saving every step; the first
        # `fit` finishes epoch 1, a second one runs epoch 2.
        checkpointer = RecordingCheckpointer()
        callback = checkpoints.CheckpointCallback(
            checkpointer, 4, every_steps=1, start_epoch=1, start_step=2
        )
        model = fake_model(6)
        callback.set_model(model)
        callback.on_epoch_begin(1)
        for batch in range(2):
            model.optimizer.iterations.assign_add(1)
            callback.on_train_batch_end(batch, {"loss": 1.0})
        callback.on_epoch_end(1)
        callback.on_epoch_begin(2)
        model.optimizer.iterations.assign_add(1)
        callback.on_train_batch_end(0, {"loss": 1.0})
        # Step 4 of 4 is the epoch's end: saved once, as (2, 0).
        self.assertEqual(checkpointer.saves, [(1, 3, 7), (2, 0, 8), (2, 1, 9)])

    def test_saves_every_n_steps_only(self):
        checkpointer = RecordingCheckpointer()
        callback = checkpoints.CheckpointCallback(
            checkpointer, 10, every_steps=3, every_seconds=1e9
        )
        callback.set_model(fake_model(0))
        callback.on_epoch_begin(0)
        for batch in range(7):
            callback.on_train_batch_end(batch, {"loss": 0.5})
        self.assertEqual(checkpointer.saves, [(0, 3, 0), (0, 6, 0)])

    def test_nan_loss_stops_without_saving(self):
        checkpointer = RecordingCheckpointer()
        callback = checkpoints.CheckpointCallback(
            checkpointer, 4, every_steps=1
        )
        model = fake_model(5)
        callback.set_model(model)
        callback.on_epoch_begin(1)
        with self.assertRaisesRegex(
            checkpoints.TrainingDivergedError,
            r"^Loss became nan at epoch 1, step 2 \(global step 5\)\. .*"
            r"/runs/x/checkpoints is kept",
        ):
            callback.on_train_batch_end(1, {"loss": float("nan")})
        self.assertTrue(model.stop_training)
        self.assertEqual(checkpointer.saves, [])


def numbered_source(count, first_label=0):
    """Image `i` is filled with `first_label + i`, its label."""
    labels = np.arange(first_label, first_label + count)
    images = np.broadcast_to(
        labels[:, None, None, None], (count, 8, 8, 3)
    ).astype(np.uint8)
    return load_arrays(images, labels)[0]


class CheckpointerTest(TestCase):
    def checkpointer(self, directory, value, writes):
        variable = tf.Variable(value)
        model = types.SimpleNamespace(weights=[variable])
        optimizer = types.SimpleNamespace(variables=[])
        checkpointer = checkpoints.Checkpointer(
            directory, model, optimizer, writes=writes
        )
        return checkpointer, variable

    def test_a_worker_that_does_not_write_restores_and_leaves_no_files(self):
        directory = os.path.join(self.get_temp_dir(), "checkpoints")
        chief, _ = self.checkpointer(directory, 3.0, writes=True)
        chief.save(1, 0, 5)
        written = sorted(os.listdir(directory))
        worker, variable = self.checkpointer(directory, 0.0, writes=False)
        self.assertEqual(worker.restore(), (1, 0))
        self.assertEqual(float(variable.numpy()), 3.0)
        variable.assign(7.0)
        self.assertIsNone(worker.save(2, 0, 6))
        # Neither the run's directory nor the worker's scratch copy holds
        # the worker's save.
        self.assertEqual(sorted(os.listdir(directory)), written)
        self.assertTrue(tf.train.latest_checkpoint(directory).endswith("-5"))
        self.assertFalse(os.path.exists(worker.manager.directory))


class KNNMonitorWiringTest(TestCase):
    def test_labelled_sample_is_seeded_and_keeps_pairs(self):
        source = numbered_source(20)
        images, labels = callbacks.labelled_sample(source, 6, 3, 100)
        again, _ = callbacks.labelled_sample(source, 6, 3, 100)
        other, _ = callbacks.labelled_sample(source, 6, 4, 100)
        self.assertEqual(images.shape, (6, 8, 8, 3))
        self.assertAllEqual(images[:, 0, 0, 0], labels)
        self.assertLen(set(labels.tolist()), 6)
        self.assertAllEqual(again, images)
        self.assertNotAllEqual(other, images)
        # Asking for more than there are gives the whole split.
        _, every = callbacks.labelled_sample(source, 50, 3, 100)
        self.assertAllEqual(np.sort(every), np.arange(20))

    def test_monitor_takes_train_bank_and_eval_queries(self):
        config = smoke_config(
            self.get_temp_dir(),
            **{
                "train.knn_monitor_every": "3",
                "train.knn_monitor_examples": "4",
            },
        )
        monitor = callbacks.knn_monitor(
            config, numbered_source(10), numbered_source(10, first_label=100)
        )
        self.assertIsInstance(monitor, KNNMonitor)
        self.assertEqual(monitor.every_n_epochs, 3)
        self.assertEqual(monitor.train_images.shape, (4, 8, 8, 3))
        self.assertTrue(np.all(monitor.train_labels < 10))
        self.assertTrue(np.all(monitor.test_labels >= 100))
        self.assertAllEqual(
            monitor.test_images[:, 0, 0, 0], monitor.test_labels
        )

    @parameterized.named_parameters(
        ("off", False, True),
        ("on", True, True),
        # A worker that does not write the run has no TensorBoard writers.
        ("non_writing_worker", True, False),
    )
    def test_callback_order(self, with_monitor, writes):
        config = smoke_config(
            self.get_temp_dir(), **{"train.knn_monitor_every": "1"}
        )
        plan = types.SimpleNamespace(
            config=config,
            steps=2,
            # The parts of a `Source` the callbacks read.
            source=types.SimpleNamespace(
                dataset=lambda: numbered_source(8),
                info=types.SimpleNamespace(scan=None),
            ),
            eval_source=numbered_source(8) if with_monitor else None,
        )
        state = types.SimpleNamespace(
            directory=self.get_temp_dir(),
            checkpointer=RecordingCheckpointer(writes),
            resumed_from=(0, 0),
            picture=None,
        )
        extra = keras.callbacks.Callback()
        found = callbacks.pretrain_callbacks(plan, state, [extra])
        expected = [
            checkpoints.CheckpointCallback,
            *([KNNMonitor] if with_monitor else []),
            # KNNMonitor before TensorBoard, which writes the epoch logs.
            *(
                [keras.callbacks.TensorBoard, callbacks.ViewGridCallback]
                if writes
                else []
            ),
            callbacks.ScanSummaryCallback,
        ]
        self.assertEqual([type(c) for c in found[:-1]], expected)
        self.assertIs(found[-1], extra)
