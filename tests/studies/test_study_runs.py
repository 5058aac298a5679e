"""CI-sized runs of every study: the first two points on tiny folders.

Each run pretrains its points for 2 steps of 8 images of 16 px, measures
them (a 20-iteration probe, or fine-tuning for `transfer`) and writes the
table and the plot. `batch-size`, `augmentations` and `transfer` run in
the default suite (15-30 s each here): their full grids do not run on this
machine. `projection-head` and `temperature` run in full here (README), so
their tiny runs are `large`.
"""

import pytest
from absl.testing import parameterized

from ssl_tf.studies import transfer
from ssl_tf.testing import TestCase
from ssl_tf.testing.studies import png_size, run_tiny_study

# Study -> (row keys compared, the rows' values, training images).
CASES = {
    "projection-head": (
        ("head", "layer"),
        [("none", "h"), ("linear", "h"), ("linear", "z1")],
        24,
    ),
    "temperature": (
        ("method", "value"),
        [("simclr", 0.01), ("triplet", 0.01)],
        24,
    ),
    # 64 images: one batch of the smallest size.
    "batch-size": (
        ("method", "batch_size"),
        [("simclr", 64), ("moco", 64)],
        64,
    ),
    "augmentations": (("point",), [("crop",), ("crop+colour",)], 24),
    "transfer": (
        ("init", "label_fraction"),
        [
            (i, f)
            for i in ("random", "supervised-cifar10")
            for f in transfer.FRACTIONS
        ],
        24,
    ),
}


FULL_RUNS_HERE = ("projection-head", "temperature")


def _named(names):
    return [(name.replace("-", "_"), name) for name in names]


class StudyRunCase(TestCase):
    """Checks one study's tiny run (a base: it holds no test)."""

    def check_first_two_points(self, name):
        keys, expected, train = CASES[name]
        report = run_tiny_study(name, self.get_temp_dir(), train)
        self.assertEqual(
            [tuple(row[key] for key in keys) for row in report.rows], expected
        )
        # A header, its rule and one line a row.
        self.assertLen(report.table.splitlines(), len(expected) + 2)
        for row in report.rows:
            if row["point"] != "cbr_tiny-random":  # pretrained points
                self.assertGreater(row["loss"], 0)
        self.assertEqual(png_size(report.plot_path), (800, 400))


class StudyRunTest(StudyRunCase):
    @parameterized.named_parameters(
        _named(name for name in CASES if name not in FULL_RUNS_HERE)
    )
    def test_first_two_points(self, name):
        self.check_first_two_points(name)


@pytest.mark.large
class LargeStudyRunTest(StudyRunCase):
    @parameterized.named_parameters(_named(FULL_RUNS_HERE))
    def test_first_two_points_large(self, name):
        self.check_first_two_points(name)
