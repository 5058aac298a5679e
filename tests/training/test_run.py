"""`pretrain`'s steps: prepare, resume phases, the kNN monitor, messages."""

import contextlib
import glob
import io
import os

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from ssl_tf.config import ConfigError, DataConfig
from ssl_tf.data import SourceInfo, pipeline
from ssl_tf.data.sources import open_arrays
from ssl_tf.evaluation import embed_images, knn_accuracy
from ssl_tf.testing import TestCase, colour_classes, smoke_config, tiny_images
from ssl_tf.training import plan, run


class ResumePhasesTest(TestCase):
    @parameterized.named_parameters(
        ("fresh", (0, 0), 3, [(0, 3, 0)]),
        ("mid_epoch", (1, 2), 4, [(1, 2, 2), (2, 4, 0)]),
        ("mid_last_epoch", (2, 1), 3, [(2, 3, 1)]),
        ("epoch_boundary", (1, 0), 3, [(1, 3, 0)]),
        ("finished", (3, 0), 3, []),
    )
    def test_phases(self, resumed_from, epochs, expected):
        self.assertEqual(run.resume_phases(resumed_from, epochs), expected)


class SplitArraysTest(TestCase):
    def test_pair_is_the_training_split_and_dict_is_by_name(self):
        pair = (tiny_images(2), None)
        self.assertIs(plan.split_arrays(pair, "train", "train"), pair)
        self.assertIsNone(plan.split_arrays(pair, "test", "train"))
        both = {"train": pair, "test": (tiny_images(1), None)}
        self.assertIs(plan.split_arrays(both, "test", "train"), both["test"])
        self.assertIsNone(plan.split_arrays(None, "train", "train"))


class InMemoryDecisionTest(TestCase):
    @parameterized.named_parameters(
        # 32 x 32 x 3 bytes an image: 524288 images fill the 1.5 GiB limit.
        ("at_the_limit", 524_288, True, True),
        ("one_image_over", 524_289, True, False),
        ("cache_off", 10, False, False),
    )
    def test_holds_in_memory(self, num_examples, cache, expected):
        # CIFAR-sized images (not cropped at full resolution).
        info = SourceInfo(num_examples, None, image_shape=(32, 32))
        data_config = DataConfig(image_size=32, cache=cache)
        self.assertEqual(pipeline.holds_in_memory(info, data_config), expected)

    def test_in_memory_arrays_only_when_held(self):
        images = tiny_images(4)
        source = open_arrays(images)
        arrays = pipeline.in_memory_arrays(
            source, DataConfig(image_size=16, cache=True)
        )
        self.assertAllEqual(arrays["images"], images)
        self.assertIsNone(
            pipeline.in_memory_arrays(
                source, DataConfig(image_size=16, cache=False)
            )
        )


# The monitor's tiny labelled set: 3 colour classes a split. The encoder
# separates the colours, so with the labels of 3 of the 12 queries
# shifted to another class the kNN accuracy is exactly 9 / 12.
TRAIN = colour_classes(24, seed=1)
TEST_IMAGES, TRUE_TEST_LABELS = colour_classes(12, seed=2)
TEST_LABELS = np.concatenate(
    [(TRUE_TEST_LABELS[:3] + 1) % 3, TRUE_TEST_LABELS[3:]]
)
MONITOR = {"train.knn_monitor_every": "1", "train.epochs": "2"}


def scalars(log_dir, tag):
    """`[(step, value)]` of one scalar tag in TensorBoard's train writer."""
    found = []
    for path in glob.glob(os.path.join(log_dir, "train", "events*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag == tag:
                    number = float(tf.make_ndarray(value.tensor))
                    found.append((event.step, number))
    return sorted(found)


class KNNMonitorOptionTest(TestCase):
    def test_logs_knn_accuracy_of_the_encoder(self):
        config = smoke_config(self.get_temp_dir(), **MONITOR)
        result = run.pretrain(
            config,
            arrays={"train": TRAIN, "test": (TEST_IMAGES, TEST_LABELS)},
            verbose=0,
        )
        self.assertEqual(result.history["knn_accuracy"], [0.75, 0.75])
        self.assertEqual(
            scalars(os.path.join(result.run_dir, "logs"), "epoch_knn_accuracy"),
            [(0, 0.75), (1, 0.75)],
        )
        # By hand on the final encoder: the monitor's sample is the whole
        # of both splits (fewer images than `knn_monitor_examples`).
        train_x = embed_images(result.model.encoder, TRAIN[0])
        test_x = embed_images(result.model.encoder, TEST_IMAGES)
        by_hand = knn_accuracy(train_x, TRAIN[1], test_x, TEST_LABELS)
        self.assertEqual(by_hand, result.history["knn_accuracy"][-1])
        # Guards the pinned value: the true labels are all recovered.
        self.assertEqual(
            knn_accuracy(train_x, TRAIN[1], test_x, TRUE_TEST_LABELS), 1.0
        )

    def test_off_by_default(self):
        config = smoke_config(self.get_temp_dir())
        self.assertEqual(config.train.knn_monitor_every, 0)
        result = run.pretrain(config, arrays=TRAIN, verbose=0)
        self.assertNotIn("knn_accuracy", result.history)

    @parameterized.named_parameters(
        (
            "unlabelled_train",
            {"train": (TRAIN[0], None), "test": (TEST_IMAGES, TEST_LABELS)},
            r"^`train.knn_monitor_every` needs labels, but arrays\(24, 16, "
            r"16, 3\) has none\.$",
        ),
        (
            "unlabelled_eval",
            {"train": TRAIN, "test": (TEST_IMAGES, None)},
            r"^`train.knn_monitor_every` \(split 'test'\) needs labels, but "
            r"arrays\(12, 16, 16, 3\) has none\.$",
        ),
        (
            "no_eval_split",
            TRAIN,
            r"^`train.knn_monitor_every` needs the labelled split 'test': "
            r"pass `arrays=\{'train': \(images, labels\), 'test': ",
        ),
    )
    def test_fails_before_training_without_labels(self, arrays, message):
        tmp = self.get_temp_dir()
        with self.assertRaisesRegex(ConfigError, message):
            run.pretrain(smoke_config(tmp, **MONITOR), arrays=arrays)
        self.assertFalse(os.path.exists(os.path.join(tmp, "runs")))

    @parameterized.named_parameters(
        ("negative_every", "train.knn_monitor_every", "-1", ">= 0"),
        ("no_examples", "train.knn_monitor_examples", "0", ">= 1"),
    )
    def test_config_names_the_key(self, key, value, bound):
        config = smoke_config(self.get_temp_dir(), **{key: value})
        with self.assertRaisesRegex(
            ConfigError, rf"^`{key}` must be {bound}\. Received: {key}={value}$"
        ):
            config.validate()


class ResumeMessageTest(TestCase):
    def test_said_once(self):
        config = smoke_config(self.get_temp_dir())
        arrays = (tiny_images(16), None)
        run.pretrain(config, arrays=arrays, do_export=False, verbose=0)
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            again = run.pretrain(config, arrays=arrays, do_export=False)
        self.assertEqual(again.resumed_from, (1, 0))
        lines = output.getvalue().splitlines()
        directory = os.path.join(config.output_dir, config.name)
        self.assertEqual(
            lines,
            [
                "Resuming from checkpoint: epoch 1, step 0 (global step 2) "
                f"in {directory}.",
                f"{directory} already finished 1 epochs.",
            ],
        )
