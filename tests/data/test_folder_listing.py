"""One folder-listing rule for the library's folder source (ImageExampleGen's
Beam listing is checked against it in tests/components/test_example_gen.py)."""

import os

import numpy as np
from PIL import Image

from ssl_tf import data
from ssl_tf.config import DataConfig
from ssl_tf.testing import TestCase, tiny_images


def _write(path, seed):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(tiny_images(1, 8, seed=seed)[0]).save(path)


class FolderListingTest(TestCase):
    def setUp(self):
        super().setUp()
        self.root = self.get_temp_dir()
        # train has ants, bees and cats; test lacks bees. The train cats
        # sit one folder deeper, and one extension is upper case.
        _write(os.path.join(self.root, "train", "ants", "a0.png"), 0)
        _write(os.path.join(self.root, "train", "bees", "b0.PNG"), 1)
        _write(os.path.join(self.root, "train", "cats", "x", "c0.png"), 2)
        with open(os.path.join(self.root, "train", "cats", "notes.txt"), "w"):
            pass
        _write(os.path.join(self.root, "test", "ants", "a1.png"), 4)
        _write(os.path.join(self.root, "test", "cats", "c1.png"), 5)

    def test_splits_share_the_class_numbering(self):
        folder = data.list_image_folder(self.root)
        self.assertEqual(folder.class_names, ("ants", "bees", "cats"))
        # Labels are an int64 array, paths a compact `PathTable`.
        self.assertEqual(folder.splits["train"].labels.dtype, np.int64)
        self.assertEqual(folder.splits["train"].labels.tolist(), [0, 1, 2])
        self.assertEqual(folder.splits["test"].labels.tolist(), [0, 2])
        self.assertEqual(
            [os.path.basename(p) for p in folder.splits["train"].paths],
            ["a0.png", "b0.PNG", "c0.png"],
        )

    def test_the_folder_source_labels_test_like_train(self):
        config = DataConfig(source="folder", name=self.root, image_size=8)
        labels = {}
        for split in ("train", "test"):
            dataset, info = data.load_source(config, split)
            labels[split] = [int(e["labels"]) for e in dataset]
            self.assertEqual(info.class_names, ("ants", "bees", "cats"))
            self.assertEqual(info.num_classes, 3)
        self.assertEqual(labels, {"train": [0, 1, 2], "test": [0, 2]})

    def test_a_missing_split_names_the_available_ones(self):
        config = DataConfig(source="folder", name=self.root, image_size=8)
        with self.assertRaisesRegex(
            data.DataError, r"no split folder 'validation'.*\['test', 'train'\]"
        ):
            data.load_source(config, "validation")

    def test_a_flat_split_folder_is_unlabeled(self):
        _write(os.path.join(self.root, "val", "v0.png"), 6)
        folder = data.list_image_folder(self.root)
        self.assertIsNone(folder.splits["val"].labels)
        self.assertLen(folder.splits["val"].paths, 1)

    def test_without_split_folders_every_split_reads_the_root(self):
        root = os.path.join(self.root, "train")
        config = DataConfig(source="folder", name=root, image_size=8)
        _, train = data.load_source(config, "train")
        _, test = data.load_source(config, "test")
        self.assertEqual(train.num_examples, 3)
        self.assertEqual(test.num_examples, 3)
