"""`ssl-tf eval` through `ssl_tf.cli.main`, on a tiny export and folder."""

import glob
import json
import os
import tempfile
import time

import tensorflow as tf

from ssl_tf.testing import (
    TinyExportTestCase,
    colour_classes,
    error_lines,
    run_cli,
    write_image_folder,
)


class EvalCliTest(TinyExportTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.images = os.path.join(cls.root, "images")
        for split, n, seed in (("train", 30, 0), ("test", 15, 1)):
            write_image_folder(
                os.path.join(cls.images, split), *colour_classes(n, seed)
            )

    def setUp(self):
        super().setUp()
        self.out = tempfile.mkdtemp(dir=self.root)
        self.cache = os.path.join(self.out, "cache")

    def _eval(self, protocol, *extra):
        argv = [
            "eval",
            protocol,
            "--model",
            self.model_path,
            "--source",
            "folder",
            "--dataset",
            self.images,
            "--output-dir",
            os.path.join(self.out, "results"),
            "--option",
            f"cache_dir={self.cache}",
            *extra,
        ]
        code, stdout, stderr = run_cli(argv)
        self.assertEqual(code, 0, stderr)
        (path,) = glob.glob(
            os.path.join(self.out, "results", f"{protocol}-*.json")
        )
        with open(path) as handle:
            return json.load(handle), stdout

    def test_image_size_is_honoured_recorded_and_keys_reuse(self):
        default, _ = self._eval("knn", "--option", "k=3")
        self.assertEqual(default["dataset"]["image_size"], 16)
        smaller, _ = self._eval("knn", "--option", "k=3", "--image-size", "8")
        self.assertEqual(smaller["dataset"]["image_size"], 8)
        self.assertEqual(smaller["options"]["image_size"], 8)
        # Features at another size are computed, not read from the cache.
        self.assertLen(glob.glob(os.path.join(self.cache, "*.npz")), 4)
        # The stored size-8 result is not reused for a size-16 request.
        again, _ = self._eval("knn", "--option", "k=3", "--image-size", "16")
        self.assertEqual(again["dataset"]["image_size"], 16)
        self.assertEqual(again["metrics"], default["metrics"])

    def test_image_size_flag_and_option_must_agree(self):
        with self.assertRaisesRegex(
            SystemExit, r"--image-size 8 and --option image_size=12 disagree"
        ):
            self._eval("knn", "--image-size", "8", "--option", "image_size=12")

    def test_three_classes_have_no_top5(self):
        result, printed = self._eval("linear", "--option", "l2_grid=1e-3")
        self.assertIn("top1", result["metrics"])
        self.assertNotIn("top5", result["metrics"])
        self.assertIn("linear top-1", printed)
        self.assertNotIn("top-5", printed)

    def test_tfds_dataset_not_prepared_is_one_line(self):
        empty = tempfile.mkdtemp(dir=self.root)
        started = time.perf_counter()
        code, _, stderr = run_cli(
            [
                "eval",
                "knn",
                "--model",
                self.model_path,
                "--dataset",
                "cifar10",
                "--data-dir",
                empty,
                "--output-dir",
                os.path.join(self.out, "results"),
                "--option",
                f"cache_dir={self.cache}",
            ]
        )
        self.assertLess(time.perf_counter() - started, 30)
        self.assertEqual(code, 2, stderr)
        errors = error_lines(stderr)
        self.assertLen(errors, 1, stderr)
        self.assertIn(f"not prepared in {empty}", errors[0])
        self.assertNotIn("Traceback", stderr)


if __name__ == "__main__":
    tf.test.main()
