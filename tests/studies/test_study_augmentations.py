"""The `augmentations` study: one or two augmentations on, as a heat-map."""

import numpy as np

from ssl_tf import augment, studies
from ssl_tf.studies import augmentations
from ssl_tf.testing import TestCase
from ssl_tf.testing.studies import plot_size

# The recipe step each augmentation adds (crop is always a step; off, it
# crops the whole image).
STEPS = {"colour": "jitter", "blur": "blur", "grayscale": "grayscale"}
STEPS["flip"] = "flip"


class AugmentationGridTest(TestCase):
    def test_each_point_switches_on_exactly_its_pair(self):
        options = studies.StudyOptions(results_dir="/r")
        study = studies.get_study("augmentations")
        grid = study.points(options)
        self.assertLen(grid, 15)  # 5 singles + 10 pairs
        for point in grid:
            config = studies.point_config(study, point, options)
            recipe = augment.simclr_recipe(config.augment, 32)
            chosen = {point.labels["first"], point.labels["second"]}
            expected = {"crop"} | {STEPS[n] for n in chosen if n in STEPS}
            self.assertEqual({s.name for s in recipe.steps}, expected)
            whole = config.augment.crop_scale == (1.0, 1.0)
            self.assertEqual(whole, "crop" not in chosen, point.name)

    def test_matrix_is_symmetric_with_gaps(self):
        rows = [
            {"first": "crop", "second": "crop", "linear_top1": 0.5},
            {"first": "crop", "second": "flip", "linear_top1": 0.25},
        ]
        values = augmentations.matrix(rows, "linear_top1")
        self.assertEqual(values[0, 0], 50.0)
        self.assertEqual(values[0, 4], 25.0)
        self.assertEqual(values[4, 0], 25.0)
        self.assertEqual(int(np.isnan(values).sum()), 22)

    def test_plot_of_given_rows(self):
        rows = [
            {"first": "crop", "second": n, "linear_top1": 0.5, "knn_top1": 0.4}
            for n in augmentations.NAMES
        ]
        size = plot_size(augmentations.plot, rows, self.get_temp_dir())
        self.assertEqual(size, (800, 400))
