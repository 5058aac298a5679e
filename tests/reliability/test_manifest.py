"""The manifest source: formats, labels, the dataset root, missing files."""

import os

import numpy as np
import tensorflow as tf
from absl.testing import parameterized
from PIL import Image

from ssl_tf.config import DataConfig
from ssl_tf.data import images, sources
from ssl_tf.testing import TestCase, run_cli, smoke_pretrain_argv

SIZE = 8
COLORS = {
    "a.png": (255, 0, 0),
    "b.png": (0, 255, 0),
    "sub/c.png": (0, 0, 255),
    "sub/d.png": (255, 255, 0),
}


def write_images(root):
    for name, color in COLORS.items():
        path = os.path.join(root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        Image.new("RGB", (10, 6), color).save(path)


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)
    return path


def colors_and_labels(dataset):
    colors, labels = [], []
    for element in dataset.as_numpy_iterator():
        colors.append(tuple(int(c) for c in element["images"][0, 0]))
        if "labels" in element:
            labels.append(int(element["labels"]))
    return colors, labels


class ManifestTest(TestCase):
    def setUp(self):
        super().setUp()
        self.tmp = self.get_temp_dir()
        self.root = os.path.join(self.tmp, "data")
        write_images(self.root)

    def manifest(self, text, name="manifest.csv"):
        return write(os.path.join(self.root, name), text)

    def test_csv_with_integer_labels(self):
        path = self.manifest("path,label\na.png,3\nsub/c.png,0\n")
        dataset, info = sources.load_manifest(path, SIZE)
        colors, labels = colors_and_labels(dataset)
        self.assertEqual(colors, [COLORS["a.png"], COLORS["sub/c.png"]])
        self.assertEqual(labels, [3, 0])
        self.assertEqual(info.num_classes, 4)
        self.assertEqual(info.num_examples, 2)
        self.assertEqual(info.description, f"manifest:{path}")

    def test_csv_with_class_names_indexed_in_sorted_order(self):
        path = self.manifest(
            "path,label\na.png,dog\nb.png,cat\nsub/c.png,dog\n"
        )
        dataset, info = sources.load_manifest(path, SIZE)
        _, labels = colors_and_labels(dataset)
        self.assertEqual(info.class_names, ("cat", "dog"))
        self.assertEqual(info.num_classes, 2)
        self.assertEqual(labels, [1, 0, 1])

    @parameterized.named_parameters(
        ("csv_path_only", "manifest.csv", "path\na.png\nsub/d.png\n"),
        ("text", "list.txt", "a.png\n\nsub/d.png\n"),
    )
    def test_unlabeled(self, name, text):
        dataset, info = sources.load_manifest(self.manifest(text, name), SIZE)
        colors, labels = colors_and_labels(dataset)
        self.assertEqual(colors, [COLORS["a.png"], COLORS["sub/d.png"]])
        self.assertEqual(labels, [])
        self.assertIsNone(info.num_classes)

    def test_relative_paths_resolve_against_the_manifest_not_the_cwd(self):
        path = self.manifest("sub/c.png\n", "list.txt")
        cwd = os.getcwd()
        os.chdir(self.tmp)
        try:
            dataset, info = sources.load_manifest(path, SIZE)
        finally:
            os.chdir(cwd)
        self.assertEqual(
            info.scan.good, (os.path.join(self.root, "sub/c.png"),)
        )
        self.assertEqual(colors_and_labels(dataset)[0], [COLORS["sub/c.png"]])

    def test_absolute_path_inside_the_root_is_accepted(self):
        inside = os.path.join(self.root, "b.png")
        path = self.manifest(f"{inside}\n", "list.txt")
        _, info = sources.load_manifest(path, SIZE)
        self.assertEqual(info.scan.good, (inside,))

    def _outside(self):
        outside = os.path.join(self.tmp, "elsewhere")
        os.makedirs(outside)
        Image.new("RGB", (4, 4), (9, 9, 9)).save(os.path.join(outside, "x.png"))
        link = os.path.join(self.root, "link")
        os.symlink(outside, link)
        # TF's temp-dir cleanup cannot delete a symlink to a directory.
        self.addCleanup(os.unlink, link)
        return outside

    @parameterized.named_parameters(
        ("dot_dot", "../elsewhere/x.png"),
        ("absolute", "{tmp}/elsewhere/x.png"),
        ("symlink", "link/x.png"),
    )
    def test_path_outside_the_root_is_refused(self, entry):
        self._outside()
        entry = entry.format(tmp=self.tmp)
        path = self.manifest(f"path\na.png\n{entry}\nb.png\n{entry}\n")
        with self.assertRaisesRegex(
            sources.DataError,
            r"lists 2 path\(s\) outside its dataset root .*: line 3 "
            rf"\('{entry}' -> '.*elsewhere/x\.png'\), line 5 .*"
            r"data\.allow_outside_root",
        ):
            sources.load_manifest(path, SIZE)

    def test_outside_the_root_when_allowed(self):
        self._outside()
        path = self.manifest("../elsewhere/x.png\nlink/x.png\n", "list.txt")
        dataset, info = sources.load_manifest(
            path, SIZE, allow_outside_root=True
        )
        self.assertEqual(info.num_examples, 2)
        self.assertEqual(colors_and_labels(dataset)[0], [(9, 9, 9)] * 2)

    def test_load_source_honours_allow_outside_root(self):
        self._outside()
        path = self.manifest("a.png\n../elsewhere/x.png\n", "list.txt")
        config = DataConfig(source="manifest", name=path, image_size=SIZE)
        with self.assertRaisesRegex(sources.DataError, "line 2"):
            sources.load_source(config)
        config = DataConfig(
            source="manifest",
            name=path,
            image_size=SIZE,
            allow_outside_root=True,
        )
        _, info = sources.load_source(config)
        self.assertEqual(info.num_examples, 2)

    def test_load_source_formats_the_split(self):
        self.manifest("a.png\n", "train.txt")
        config = DataConfig(
            source="manifest",
            name=os.path.join(self.root, "{split}.txt"),
            split="train",
            image_size=SIZE,
        )
        _, info = sources.load_source(config)
        self.assertEqual(info.num_examples, 1)

    def test_missing_and_bad_files_are_skipped_and_named(self):
        write(os.path.join(self.root, "broken.png"), "not a png")
        path = self.manifest(
            "path,label\na.png,x\ngone.png,y\nbroken.png,x\nb.png,y\n"
        )
        dataset, info = sources.load_manifest(path, SIZE)
        self.assertEqual(info.num_examples, 2)
        self.assertEqual(
            [
                (os.path.basename(i), r.split(" (")[0])
                for i, r in info.scan.skipped
            ],
            [("gone.png", "missing file"), ("broken.png", "not an image")],
        )
        self.assertIn("gone.png (missing file)", info.scan.summary())
        # Labels stay with their images after the skips.
        self.assertEqual(colors_and_labels(dataset)[1], [0, 1])
        self.assertEqual(info.class_names, ("x", "y"))

    def test_only_missing_files_fail_with_no_usable_images(self):
        path = self.manifest("gone.png\nalso_gone.png\n", "list.txt")
        with self.assertRaisesRegex(
            images.NoUsableImagesError,
            r"2 files skipped \(2 missing file\)\. First: gone\.png",
        ):
            sources.load_manifest(path, SIZE)

    def test_a_path_listed_twice_keeps_both_labels(self):
        path = self.manifest("path,label\na.png,1\nb.png,0\na.png,2\n")
        dataset, info = sources.load_manifest(path, SIZE)
        colors, labels = colors_and_labels(dataset)
        self.assertEqual(labels, [1, 0, 2])
        self.assertEqual(colors[2], COLORS["a.png"])

    @parameterized.named_parameters(
        ("missing_label", "path,label\na.png,1\nb.png\n", r"line\(s\) 3 "),
        ("empty_label", "path,label\na.png,\nb.png,1\n", r"line\(s\) 2 "),
        ("no_header", "a.png,1\n", "must start with the header"),
        ("bad_header", "path,label,extra\na.png,1,2\n", "columns"),
        ("negative_label", "path,label\na.png,-1\n", "must be >= 0"),
        ("empty", "path,label\n", "lists no images"),
    )
    def test_malformed_manifest(self, text, message):
        with self.assertRaisesRegex(sources.DataError, message):
            sources.load_manifest(self.manifest(text), SIZE)

    def test_missing_manifest(self):
        with self.assertRaisesRegex(sources.DataError, "does not exist"):
            sources.load_manifest(os.path.join(self.root, "nope.csv"), SIZE)

    def test_cli_reports_outside_root_as_an_error(self):
        self._outside()
        path = self.manifest("a.png\n../elsewhere/x.png\n", "list.txt")
        code, _, stderr = run_cli(
            smoke_pretrain_argv(
                self.tmp, "data.source=manifest", f"data.name={path}"
            )
        )
        self.assertEqual(code, 2)
        self.assertRegex(stderr, r"^error: Manifest .* line 2 ")
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "runs")))

    def test_decoded_images_are_rgb_of_the_right_size(self):
        path = self.manifest("path\na.png\n")
        dataset, _ = sources.load_manifest(path, SIZE)
        image = next(iter(dataset))["images"].numpy()
        self.assertEqual(image.shape, (SIZE, SIZE, 3))
        self.assertEqual(image.dtype, np.uint8)


if __name__ == "__main__":
    tf.test.main()
