"""Tests for `ssl_tf.evaluation.projector`."""

import os
import shutil
import tempfile

import numpy as np
import tensorflow as tf
from PIL import Image

from ssl_tf.evaluation import projector
from ssl_tf.testing import TestCase, tiny_images


class ProjectorTest(TestCase):
    def test_files_and_rows(self):
        out = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, out, True)
        rng = np.random.default_rng(0)
        embeddings = rng.normal(size=(30, 8)).astype("float32")
        labels = np.arange(30) % 3
        paths = projector.export_projector(
            out,
            embeddings,
            labels,
            ("cat", "dog\tx", "car"),
            tiny_images(30, size=8),
        )
        with open(paths["metadata"]) as handle:
            lines = handle.read().splitlines()
        self.assertLen(lines, 31)
        self.assertEqual(lines[0], "label\tclass")
        self.assertEqual(lines[1], "0\tcat")
        self.assertEqual(lines[2], "1\tdog x")
        reader = tf.train.load_checkpoint(out)
        stored = reader.get_tensor(projector.TENSOR_NAME)
        self.assertAllEqual(stored, embeddings)
        sprite = Image.open(paths["sprite"])
        self.assertEqual(sprite.size, (6 * 8, 6 * 8))
        with open(paths["config"]) as handle:
            config = handle.read()
        for text in (projector.TENSOR_NAME, "metadata.tsv", "sprite.png"):
            self.assertIn(text, config)
        self.assertTrue(os.path.exists(os.path.join(out, "checkpoint")))

    def test_sprite_cells_shrink_to_fit(self):
        sprite, cell = projector.sprite_image(
            tiny_images(50, size=16), max_side=64
        )
        self.assertEqual(cell, 64 // 8)
        self.assertEqual(sprite.size, (64, 64))

    def test_rejects_misaligned_labels(self):
        out = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, out, True)
        with self.assertRaisesRegex(ValueError, "labels"):
            projector.export_projector(out, np.zeros((3, 2)), labels=[0, 1])
