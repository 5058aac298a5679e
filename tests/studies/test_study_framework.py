"""`ssl_tf.studies`: the registry, the runner's resume, table and plot."""

import json
import os
import textwrap
from unittest import mock

import pytest

from ssl_tf import registry, studies
from ssl_tf.config import ConfigError
from ssl_tf.testing import TestCase, run_cli
from ssl_tf.testing.studies import (
    fake_pretrain,
    fast_evaluation,
    png_size,
    tiny_study_options,
)
from ssl_tf.training import run

TOY_STUDY = textwrap.dedent(
    '''
    """A throwaway study: three learning rates."""

    from ssl_tf.studies import plots
    from ssl_tf.studies.base import Point, register_study


    def points(options):
        return [
            Point(f"lr-{lr}", {"train.learning_rate": lr}, {"lr": lr})
            for lr in (0.1, 0.2, 0.3)
        ]


    def plot(rows, path):
        fig, (axis,) = plots.figure()
        plots.accuracy_lines(axis, rows, "lr")
        plots.save(fig, path)


    register_study(
        "toy-study",
        summary="Toy: three learning rates.",
        points=points,
        columns=("lr", "linear_top1", "knn_top1", "loss"),
        plot=plot,
    )
    '''
)


class StudyRegistryTest(TestCase):
    def test_a_new_file_adds_a_study_to_the_cli(self):
        self.add_module_file(studies, TOY_STUDY, registry.STUDIES, "toy-study")
        self.assertIn("toy-study", studies.list_studies())
        code, out, _ = run_cli(["study", "--list"])
        self.assertEqual(code, 0)
        self.assertIn("toy-study        Toy: three learning rates.", out)

    def test_unknown_study_names_the_closest(self):
        self.add_module_file(studies, TOY_STUDY, registry.STUDIES, "toy-study")
        with self.assertRaisesRegex(
            ConfigError, "Unknown study 'toy-studdy'.*Did you mean 'toy-study'"
        ):
            studies.get_study("toy-studdy")

    def test_duplicate_registration_is_refused(self):
        self.add_module_file(studies, TOY_STUDY, registry.STUDIES, "toy-study")
        with self.assertRaisesRegex(KeyError, "'toy-study' is already"):
            studies.register_study(
                "toy-study", summary="", points=list, columns=(), plot=print
            )

    def test_a_swept_key_in_the_overrides_is_refused_before_work(self):
        self.add_module_file(studies, TOY_STUDY, registry.STUDIES, "toy-study")
        options = studies.StudyOptions(
            preset="smoke",
            results_dir=self.get_temp_dir(),
            overrides={"train.learning_rate": "0.5"},
        )
        with mock.patch.object(run, "pretrain") as pretrain:
            with self.assertRaisesRegex(
                ConfigError, r"sets \['train.learning_rate'\] itself"
            ):
                studies.run_study("toy-study", options)
        pretrain.assert_not_called()

    def test_point_config_layers_preset_options_and_point(self):
        self.add_module_file(studies, TOY_STUDY, registry.STUDIES, "toy-study")
        options = studies.StudyOptions(
            preset="smoke",
            epochs=3,
            results_dir="/r",
            overrides={"train.seed": "1"},
        )
        study = studies.get_study("toy-study")
        point = study.points(options)[1]
        config = studies.point_config(study, point, options)
        self.assertEqual(config.name, "toy-study-lr-0.2-e3")
        self.assertEqual(config.train.learning_rate, 0.2)
        self.assertEqual(config.train.epochs, 3)
        self.assertEqual(config.output_dir, "/r/toy-study/runs")
        self.assertEqual(config.export_dir, "/r/toy-study/saved")
        self.assertEqual(config.train.seed, 1)


class StudyRunTest(TestCase):
    def setUp(self):
        super().setUp()
        self.add_module_file(studies, TOY_STUDY, registry.STUDIES, "toy-study")
        self.options = tiny_study_options(self.get_temp_dir(), points=2)

    def run_counting(self, options):
        with mock.patch.object(
            run, "pretrain", side_effect=fake_pretrain
        ) as spy:
            report = studies.run_study("toy-study", options, fast_evaluation())
        return report, spy.call_count

    def test_table_plot_and_resume(self):
        report, calls = self.run_counting(self.options)
        self.assertEqual(calls, 2)  # --points 2 of the 3
        directory = os.path.join(self.options.results_dir, "toy-study")
        records = []
        for name in ("lr-0.1", "lr-0.2"):
            with open(os.path.join(directory, "points", f"{name}.json")) as f:
                records.append(json.load(f))
        # The table's cells are the point files' values, formatted.
        with open(report.table_path) as handle:
            lines = handle.read().splitlines()
        self.assertEqual(lines[0], "| lr | linear_top1 | knn_top1 | loss |")
        for line, record in zip(lines[2:], records, strict=True):
            (row,) = record["rows"]
            self.assertEqual(
                line,
                f"| {row['lr']} | {100 * row['linear_top1']:.1f} | "
                f"{100 * row['knn_top1']:.1f} | {row['loss']:.4g} |",
            )
        self.assertEqual([r["rows"][0]["loss"] for r in records], [0.1, 0.2])
        self.assertEqual(png_size(report.plot_path), (800, 400))
        # A rerun reuses both points; a third point runs only itself.
        again, calls = self.run_counting(self.options)
        self.assertEqual(calls, 0)
        self.assertEqual(again.rows, report.rows)
        more = studies.StudyOptions(**{**vars(self.options), "points": 3})
        third, calls = self.run_counting(more)
        self.assertEqual(calls, 1)
        self.assertEqual(third.rows[:2], report.rows)

    def test_a_changed_budget_runs_again(self):
        self.run_counting(self.options)
        longer = studies.StudyOptions(**{**vars(self.options), "epochs": 2})
        _, calls = self.run_counting(longer)
        self.assertEqual(calls, 2)

    @pytest.mark.large
    def test_cli_runs_a_study(self):
        argv = [
            "study",
            "toy-study",
            "--preset",
            "smoke",
            "--points",
            "1",
            "--results-dir",
            self.options.results_dir,
            *(f"{k}={v}" for k, v in self.options.overrides.items()),
        ]
        code, out, _ = run_cli(argv)
        self.assertEqual(code, 0)
        self.assertIn("| lr | linear_top1 | knn_top1 | loss |", out)
        self.assertIn("| 0.1 |", out)
