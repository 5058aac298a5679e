"""The `temperature` study: τ for NT-Xent beside the triplet margin c."""

from ssl_tf import methods, studies
from ssl_tf.studies import temperature
from ssl_tf.testing import TestCase
from ssl_tf.testing.studies import plot_size


class TemperatureGridTest(TestCase):
    def test_both_sweeps_interleave_and_validate(self):
        options = studies.StudyOptions(preset="smoke", results_dir="/r")
        study = studies.get_study("temperature")
        grid = study.points(options)
        self.assertEqual(
            [p.name for p in grid[:4]],
            ["simclr-temperature-0.01", "triplet-margin-0.01"]
            + ["simclr-temperature-0.05", "triplet-margin-0.05"],
        )
        swept = {}
        for point in grid:
            config = studies.point_config(study, point, options)
            option = point.labels["parameter"]
            method_config = methods.make_method_config(
                config.method, config.method_options
            )
            swept.setdefault(config.method, []).append(
                getattr(method_config, option)
            )
        expected = [0.01, 0.05, 0.1, 0.2, 0.5, 1.0]
        self.assertEqual(swept, {"simclr": expected, "triplet": expected})

    def test_plot_of_given_rows(self):
        rows = [
            {
                "method": method,
                "value": value,
                "linear_top1": 0.5,
                "knn_top1": 0.4,
                "loss": 1.0 / value,
            }
            for method in ("simclr", "triplet")
            for value in (0.1, 1.0)
        ]
        size = plot_size(temperature.plot, rows, self.get_temp_dir())
        self.assertEqual(size, (800, 400))
