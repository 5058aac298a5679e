"""A tiny encoder for tests (one conv, BN, ReLU, global pooling) and export.

Tests of training, export and evaluation do not depend on the architecture,
and a ResNet makes every build and export take seconds.
"""

import os
import shutil
import tempfile

import keras
import tensorflow as tf

from ssl_tf import export
from ssl_tf.testing.test_case import TestCase


def tiny_encoder(
    seed=0, strides=1, batch_norm=True, input_size=None, name="encoder"
):
    """A `keras.Model` mapping `(n, h, w, 3)` images to 4 features.

    Args:
        seed: seeds the conv kernel, so two calls build equal encoders.
        strides: the conv stride.
        batch_norm: adds a synchronized `BatchNormalization` (SyncBN), which
            behaves like plain BN on one replica and keeps 2-replica runs
            equal to 1-replica runs.
        input_size: fixes the input's spatial size; `None` accepts any.
        name: the model's name.
    """
    inputs = keras.Input((input_size, input_size, 3))
    x = keras.layers.Conv2D(
        4,
        3,
        strides=strides,
        use_bias=False,
        kernel_initializer=keras.initializers.HeNormal(seed),
    )(inputs)
    if batch_norm:
        x = keras.layers.BatchNormalization(synchronized=True)(x)
    x = keras.layers.ReLU()(x)
    outputs = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, outputs, name=name)


def tiny_export(directory, image_size=16):
    """Exports a 6-feature conv encoder to `directory`; returns its path.

    One seeded conv and global pooling, no BN: the evaluation tests read
    its features of colour-class images, which a single conv separates.

    Args:
        directory: where `ssl_tf.export.export_encoder` installs the export.
        image_size: the export's recorded image size.
    """
    encoder = keras.Sequential(
        [
            keras.Input((None, None, 3)),
            keras.layers.Conv2D(
                6, 3, kernel_initializer=keras.initializers.GlorotUniform(0)
            ),
            keras.layers.GlobalAveragePooling2D(),
        ],
        name="encoder",
    )
    return export.export_encoder(encoder, directory, image_size=image_size)


class TinyExportTestCase(TestCase):
    """A `TestCase` whose class shares one `tiny_export`.

    `cls.root` is a temporary directory removed after the class's tests;
    `cls.model_path` is the export inside it.
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.root = tempfile.mkdtemp()
        cls.model_path = tiny_export(os.path.join(cls.root, "export"))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.root, ignore_errors=True)
        super().tearDownClass()


def fit_two_steps(model, batch):
    """Compiles `model` with SGD, builds it from `batch` and fits 2 steps.

    Returns the `fit` history dict; the batch is repeated as the dataset.
    """
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    model.build_from_batch(batch)
    return model.fit(
        tf.data.Dataset.from_tensors(batch).repeat(),
        steps_per_epoch=2,
        verbose=0,
        shuffle=False,
    ).history
