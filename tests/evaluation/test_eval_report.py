"""Tests for `ssl_tf.evaluation.report`."""

import json
import os
import shutil
import tempfile

from ssl_tf.evaluation import report
from ssl_tf.testing import TestCase


def _result(protocol, model, metrics, dataset="cifar10", created="1"):
    result = report.make_result(
        protocol,
        model,
        fingerprint="abc",
        dataset={"name": dataset, "description": f"tfds:{dataset}/train"},
        split_sizes={"train": 100, "test": 10},
        metrics=metrics,
        seed=0,
        wall_time_s=1.5,
        options={"k": 200},
    )
    result["created"] = created
    return result


_LINEAR = {"top1": 0.9123, "top5": 0.99}
_KNN = {"top1": 0.85}
_FEWSHOT = {"mean": 0.6, "ci95": 0.008, "n_way": 5, "k_shot": 1}


class ReportTest(TestCase):
    def setUp(self):
        super().setUp()
        self.out = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.out, True)

    def test_json_round_trip(self):
        result = _result("linear", "models/a", _LINEAR)
        path = report.write_result(result, os.path.join(self.out, "a.json"))
        self.assertEqual(report.read_result(path), result)
        for key in report.RESULT_KEYS:
            self.assertIn(key, report.read_result(path))

    def test_row_label_names_the_method_and_shortens_paths(self):
        inside = os.path.join(os.getcwd(), "saved_models", "run")
        result = _result("knn", inside, _KNN)
        result["method"] = "moco"
        self.assertEqual(
            report.row_label(result),
            os.path.join("saved_models", "run") + " (moco)",
        )
        outside = _result("knn", "/elsewhere/run", _KNN)
        self.assertEqual(report.row_label(outside), "/elsewhere/run")
        self.assertIn(
            "| /elsewhere/run | 85.0 |", report.markdown_table([outside])
        )
        # A result without a method joins the row of one with it.
        linear = _result("linear", inside, _LINEAR)
        table = report.markdown_table([linear, result])
        self.assertLen(table.strip().splitlines(), 3)
        self.assertIn(" (moco) | 91.2 | 99.0 | 85.0 |", table)

    def test_markdown_table(self):
        table = report.markdown_table(
            [
                _result("linear", "models/a", _LINEAR),
                _result("knn", "models/a", _KNN),
                _result("fewshot", "models/b", _FEWSHOT),
            ]
        )
        lines = table.strip().splitlines()
        self.assertEqual(
            lines[0],
            "| model | linear top-1 | linear top-5 | kNN top-1 "
            "| 5-way 1-shot |",
        )
        self.assertEqual(lines[2], "| models/a | 91.2 | 99.0 | 85.0 | - |")
        self.assertEqual(lines[3], "| models/b | - | - | - | 60.0 ± 0.8 |")

    def test_top5_column_only_when_a_result_has_it(self):
        few_classes = _result("linear", "models/a", {"top1": 0.9})
        table = report.markdown_table([few_classes])
        self.assertNotIn("top-5", table)
        self.assertIn("| models/a | 90.0 |", table)
        table = report.markdown_table(
            [few_classes, _result("linear", "models/b", _LINEAR)]
        )
        lines = table.strip().splitlines()
        self.assertEqual(lines[0], "| model | linear top-1 | linear top-5 |")
        self.assertEqual(lines[2], "| models/a | 90.0 | - |")
        self.assertEqual(lines[3], "| models/b | 91.2 | 99.0 |")

    def test_several_datasets_prefix_columns(self):
        table = report.markdown_table(
            [
                _result("knn", "a", _KNN, dataset="cifar10"),
                _result("knn", "a", _KNN, dataset="fashion_mnist"),
            ]
        )
        self.assertIn("cifar10: kNN top-1", table)
        self.assertIn("fashion_mnist: kNN top-1", table)

    def test_merge_reports_globs_directories_and_skips(self):
        nested = os.path.join(self.out, "runs", "b")
        report.write_result(
            _result("linear", "a", _LINEAR),
            os.path.join(self.out, "linear.json"),
        )
        report.write_result(
            _result("knn", "b", _KNN), os.path.join(nested, "knn.json")
        )
        # An older kNN result of model "b", replaced by the newer one.
        report.write_result(
            _result("knn", "b", {"top1": 0.1}, created="0"),
            os.path.join(nested, "old.json"),
        )
        with open(os.path.join(self.out, "other.json"), "w") as handle:
            json.dump({"not": "a result"}, handle)
        table = report.merge_reports(
            [os.path.join(self.out, "*.json"), os.path.join(self.out, "runs")]
        )
        lines = table.strip().splitlines()
        self.assertLen(lines, 4)
        self.assertIn("| a | 91.2 | 99.0 | - |", lines)
        self.assertIn("| b | - | - | 85.0 |", lines)
        self.assertEqual(
            report.merge_reports(os.path.join(self.out, "**", "*.json")),
            table,
        )
