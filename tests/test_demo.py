"""Tests for `ssl_tf.demo`: the main job, end to end on tiny images."""

import glob
import os

from ssl_tf import demo, export
from ssl_tf.evaluation import report
from ssl_tf.testing import (
    TestCase,
    colour_classes,
    smoke_config,
    write_image_folder,
)
from ssl_tf.training import export_run


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
            # Continued pretraining: the runs start from another encoder,
            # which the table scores beside the random init.
            "encoder.init_from": export_run.export_random_encoder(
                smoke_config(os.path.join(tmp, "general"), **{"train.seed": 1})
            ),
        }

        def run():
            return demo.main(
                preset="smoke",
                methods=("rotation",),
                overrides=overrides,
                results_dir=results,
            )

        table = run()
        for row in (
            "smoke-rotation (rotation)",
            "smoke-random (random)",
            "smoke-start (init_from)",
        ):
            self.assertIn(row, table)
        # The baselines are named after the preset: they are the same
        # encoders for every method.
        saved = os.path.join(tmp, "saved")
        self.assertEqual(
            sorted(os.listdir(saved)),
            ["smoke-random", "smoke-rotation", "smoke-start"],
        )
        start, general = (
            export.load_keras_encoder(os.path.join(d, "encoder.keras"))
            for d in (
                os.path.join(saved, "smoke-start"),
                overrides["encoder.init_from"],
            )
        )
        for one, two in zip(start.weights, general.weights, strict=True):
            self.assertAllEqual(one.numpy(), two.numpy())
        files = sorted(glob.glob(os.path.join(results, "*.json")))
        self.assertLen(files, 6)  # (linear, kNN) x 3 models
        created = [report.read_result(f)["created"] for f in files]
        # A rerun re-exports the finished runs with the same weights, so
        # their fingerprints match and no protocol runs again.
        run()
        self.assertEqual(
            [report.read_result(f)["created"] for f in files], created
        )
