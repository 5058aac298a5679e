"""Tests for `ssl_tf.methods.base.ClassifierMethod` (rotation, supervised)."""

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from ssl_tf.config import AugmentConfig, ConfigError, ExperimentConfig
from ssl_tf.methods import rotation, supervised
from ssl_tf.testing import TestCase, tiny_encoder, tiny_images

# name, class, constructor arguments, head, metric: the head's and the
# metric's names are what checkpoints and logs store.
CLASSIFIERS = (
    ("rotation", rotation.Rotation, {}, "rotation_head", "rotation_accuracy"),
    (
        "supervised",
        supervised.Supervised,
        {"num_classes": 3},
        "classifier",
        "accuracy",
    ),
)


def labelled_batch(method_cls, n=4):
    """`n` tiny images with labels `i % 3`, through the views of `none`."""
    views = method_cls.make_views(
        AugmentConfig(),
        16,
        seed=0,
        method_config=method_cls.config_cls(recipe="none"),
    )
    raw = {"images": tiny_images(n, 16), "labels": np.arange(n) % 3}
    return views(raw, seed=tf.constant([1, 2]))


def numpy_cross_entropy(logits, labels):
    logits = logits - logits.max(axis=1, keepdims=True)
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return -log_probs[np.arange(len(labels)), labels]


class ClassifierMethodTest(TestCase):
    @parameterized.named_parameters(*CLASSIFIERS)
    def test_loss_and_accuracy_match_numpy(self, method_cls, kwargs, *_):
        model = method_cls(tiny_encoder(), method_cls.config_cls(), **kwargs)
        batch = labelled_batch(method_cls)
        loss = model.compute_ssl_loss(batch, training=False)
        logits = model.classifier(model.encoder(batch["images"])).numpy()
        labels = batch["labels"].numpy()
        self.assertAllClose(
            loss, numpy_cross_entropy(logits, labels).mean(), atol=1e-5
        )
        self.assertAllClose(
            model.accuracy_tracker.result(),
            np.mean(np.argmax(logits, axis=1) == labels),
        )

    @parameterized.named_parameters(*CLASSIFIERS)
    def test_names_of_head_and_metric(self, method_cls, kwargs, head, metric):
        model = method_cls(tiny_encoder(), method_cls.config_cls(), **kwargs)
        self.assertEqual(model.classifier.name, head)
        self.assertEqual([m.name for m in model.metrics], ["loss", metric])

    @parameterized.named_parameters(*CLASSIFIERS)
    def test_invalid_recipe(self, method_cls, *_):
        config = ExperimentConfig(
            method=method_cls.method_name, method_options={"recipe": "strong"}
        )
        with self.assertRaisesRegex(
            ConfigError, r"`recipe` must be one of .*Received: recipe='strong'"
        ):
            config.validate()
