"""Tests for `ssl_tf.demo`: the main job, end to end on tiny images."""

import glob
import os

from ssl_tf import demo
from ssl_tf.evaluation import report
from ssl_tf.testing import TestCase, colour_classes, write_image_folder


def write_split(root, n, seed):
    # Two classes told apart by their dominant colour channel.
    write_image_folder(root, *colour_classes(n, seed, classes=2))


class DemoTest(TestCase):
    def test_method_then_rerun_reuses_every_result(self):
        tmp = self.get_temp_dir()
        data = os.path.join(tmp, "data")
        write_split(os.path.join(data, "train"), 24, 0)
        write_split(os.path.join(data, "test"), 12, 1)
        results = os.path.join(tmp, "results")
        overrides = {
            "data.source": "folder",
            "data.name": data,
            "output_dir": os.path.join(tmp, "runs"),
            "export_dir": os.path.join(tmp, "saved"),
        }

        def run():
            return demo.main(
                preset="smoke",
                methods=("rotation",),
                overrides=overrides,
                results_dir=results,
            )

        table = run()
        for row in ("smoke-rotation (rotation)", "smoke-random (random)"):
            self.assertIn(row, table)
        # The random-init baseline is named after the preset: it is the
        # same untrained encoder for every method.
        self.assertEqual(
            sorted(os.listdir(os.path.join(tmp, "saved"))),
            ["smoke-random", "smoke-rotation"],
        )
        files = sorted(glob.glob(os.path.join(results, "*.json")))
        self.assertLen(files, 4)  # (linear, kNN) x 2 models
        created = [report.read_result(f)["created"] for f in files]
        # A rerun re-exports the finished runs with the same weights, so
        # their fingerprints match and no protocol runs again.
        run()
        self.assertEqual(
            [report.read_result(f)["created"] for f in files], created
        )
