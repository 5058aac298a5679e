"""End-to-end tests of `ssl_tf.evaluation.protocols.run` on a tiny export."""

import json
import os

import numpy as np
from PIL import Image

from ssl_tf import export
from ssl_tf.config import DataConfig
from ssl_tf.evaluation import features, fewshot, protocols, report
from ssl_tf.testing import TinyExportTestCase, colour_classes

_CONFIG = DataConfig(source="arrays", name="toy", image_size=16)


class ProtocolsTest(TinyExportTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.arrays = {
            "train": colour_classes(60, 0),
            "test": colour_classes(30, 1),
        }

    def _run(self, protocol, options=None, name=None):
        options = {
            "cache_dir": os.path.join(self.root, "cache"),
            **(options or {}),
        }
        output = os.path.join(self.root, "results", f"{name or protocol}.json")
        result = protocols.run(
            protocol,
            self.model_path,
            _CONFIG,
            options=options,
            output_path=output,
            arrays=self.arrays,
        )
        with open(output) as handle:
            self.assertEqual(
                json.load(handle)["metrics"],
                json.loads(json.dumps(result["metrics"])),
            )
        for key in report.RESULT_KEYS:
            self.assertIn(key, result)
        return result

    def test_linear_and_knn_then_merged_table(self):
        linear = self._run("linear", {"l2_grid": "1e-4,1e-2"})
        self.assertEqual(linear["split_sizes"], {"train": 60, "test": 30})
        self.assertEqual(
            linear["fingerprint"],
            export.read_metadata(self.model_path)["fingerprint"],
        )
        self.assertGreater(linear["metrics"]["top1"], 0.9)
        self.assertEqual(linear["options"]["l2_grid"], [1e-4, 1e-2])
        knn = self._run("knn", {"k": "5"})
        self.assertGreater(knn["metrics"]["top1"], 0.9)
        self.assertEqual(knn["options"]["k"], 5)
        # 3 classes: every label is in the top 5, so there is no top-5.
        self.assertNotIn("top5", linear["metrics"])
        self.assertNotIn("top5", knn["metrics"])
        table = report.merge_reports(os.path.join(self.root, "results"))
        self.assertIn("linear top-1", table)
        self.assertIn("kNN top-1", table)
        self.assertNotIn("top-5", table)
        self.assertIn(f"| {self.model_path} |", table)

    def _test_features(self):
        encoder = export.load_encoder(self.model_path)
        return features.extract_features(
            encoder,
            _CONFIG,
            "test",
            arrays=self.arrays["test"],
            use_cache=False,
        )

    def test_fewshot_matches_the_episodes_on_the_export_features(self):
        shape = {"n_way": 3, "k_shot": 1, "n_query": 2}
        result = self._run("fewshot", {**shape, "episodes": 10, "seed": 4})
        self.assertEqual(result["split_sizes"], {"pool": 30})
        expected = fewshot.fewshot_eval(
            *self._test_features(),
            fewshot.FewShotOptions(**shape, episodes=10, seed=4),
        )
        self.assertEqual(result["metrics"], {**expected, **shape})

    def test_neighbors_grid_shows_the_known_neighbours(self):
        train_images, _ = self.arrays["train"]
        test_images, _ = self.arrays["test"]
        result = self._run("neighbors", {"k": 3, "num_queries": 4})
        chosen = result["metrics"]["query_indices"]
        self.assertLen(chosen, 4)
        pixel = np.array(result["metrics"]["pixel_neighbors"])
        flat_train = train_images.reshape(60, -1).astype(np.int64)
        for row, query in enumerate(test_images[chosen]):
            distances = np.sum((flat_train - query.reshape(-1)) ** 2, axis=1)
            self.assertAllEqual(
                pixel[row], np.argsort(distances, kind="stable")[:3]
            )
        grid = np.asarray(Image.open(result["metrics"]["image_path"]))
        # The top-left cell (inside its 3-pixel frame) is query 0, x3.
        self.assertAllEqual(
            grid[3 : 3 + 48 : 3, 3 : 3 + 48 : 3], test_images[chosen[0]]
        )

    def test_projector(self):
        log_dir = os.path.join(self.root, "projector")
        result = self._run(
            "projector", {"log_dir": log_dir, "max_examples": 12}
        )
        with open(os.path.join(log_dir, "metadata.tsv")) as handle:
            self.assertLen(handle.read().splitlines(), 13)
        self.assertEqual(result["metrics"]["num_points"], 12)

    def test_finetune_separates_the_colour_classes(self):
        result = self._run(
            "finetune",
            {"epochs": 5, "batch_size": 8, "label_fraction": 0.5},
        )
        self.assertEqual(result["split_sizes"], {"train": 30, "test": 30})
        self.assertEqual(result["metrics"]["top1"], 1.0)
        self.assertEqual(result["metrics"]["label_fraction"], 0.5)
        self.assertNotIn("top5", result["metrics"])

    def test_rejects_unknown_protocol_and_option(self):
        with self.assertRaisesRegex(ValueError, "Unknown protocol"):
            protocols.run("lineer", self.model_path, _CONFIG)
        with self.assertRaisesRegex(ValueError, "temperatur"):
            protocols.run(
                "knn", self.model_path, _CONFIG, options={"temperatur": 0.1}
            )
        with self.assertRaisesRegex(ValueError, "expects int"):
            protocols.run(
                "knn", self.model_path, _CONFIG, options={"k": "many"}
            )

    def test_reuse_returns_a_matching_result_and_reruns_otherwise(self):
        output = os.path.join(self.root, "reuse", "knn.json")
        options = {"cache_dir": os.path.join(self.root, "cache"), "k": 5}

        def run(reuse, **changes):
            return protocols.run(
                "knn",
                self.model_path,
                _CONFIG,
                options={**options, **changes},
                output_path=output,
                arrays=self.arrays,
                reuse=reuse,
            )

        first = run(reuse=True)  # nothing there yet: runs
        stored = report.read_result(output)
        stored["metrics"]["top1"] = -1.0  # a marker only a reuse returns
        report.write_result(stored, output)
        self.assertEqual(run(reuse=True)["metrics"]["top1"], -1.0)
        # Other options, or reuse off, run again and overwrite the file.
        self.assertGreaterEqual(run(reuse=True, k=3)["metrics"]["top1"], 0.0)
        report.write_result(stored, output)
        self.assertEqual(
            run(reuse=False)["metrics"]["top1"], first["metrics"]["top1"]
        )
