"""`augmentations`: pairs of augmentations as a heat-map (SimCLR Fig. 5).

Each point pretrains SimCLR with only one augmentation (the diagonal) or
a pair of them (off the diagonal) switched on and every other one off.
"On" is the preset's setting (blur: on at any image size); "off" is:
crop -> the whole image (scale and ratio 1), colour -> jitter strength 0,
blur off, grayscale -> probability 0, flip off.

Reference:
 - [Chen et al., 2020](https://arxiv.org/abs/2002.05709), Figure 5.
"""

from __future__ import annotations

import itertools

import numpy as np

from ssl_tf import presets
from ssl_tf.studies import plots
from ssl_tf.studies.base import Point, register_study

NAMES = ("crop", "colour", "blur", "grayscale", "flip")
OFF = {
    "crop": {
        "augment.crop_scale": (1.0, 1.0),
        "augment.crop_ratio": (1.0, 1.0),
    },
    "colour": {"augment.jitter_strength": 0.0},
    "blur": {"augment.blur": False},
    "grayscale": {"augment.grayscale_prob": 0.0},
    "flip": {"augment.flip": False},
}


def switched_on(preset: str) -> dict:
    """Each augmentation's overrides when on: the preset's own values."""
    augment = presets.get_preset(preset, "simclr").augment
    return {
        "crop": {
            "augment.crop_scale": augment.crop_scale,
            "augment.crop_ratio": augment.crop_ratio,
        },
        "colour": {"augment.jitter_strength": augment.jitter_strength},
        "blur": {"augment.blur": True},
        "grayscale": {"augment.grayscale_prob": augment.grayscale_prob},
        "flip": {"augment.flip": True},
    }


def points(options) -> list[Point]:
    """The upper triangle row by row: `crop`, `crop+colour`, ..."""
    on = switched_on(options.preset)
    grid = []
    for first, second in itertools.combinations_with_replacement(NAMES, 2):
        overrides = {"method": "simclr"}
        for name in NAMES:
            chosen = name in (first, second)
            overrides.update(on[name] if chosen else OFF[name])
        name = first if first == second else f"{first}+{second}"
        grid.append(Point(name, overrides, {"first": first, "second": second}))
    return grid


def matrix(rows, key) -> np.ndarray:
    """`(5, 5)` accuracies (%) of `key`, symmetric, `nan` where not run."""
    values = np.full((len(NAMES), len(NAMES)), np.nan)
    for row in rows:
        i, j = NAMES.index(row["first"]), NAMES.index(row["second"])
        values[i, j] = values[j, i] = 100 * row[key]
    return values


def plot(rows, path) -> None:
    """Heat-maps of linear and kNN top-1: single (diagonal) and pairs."""
    fig, axes = plots.figure(panels=2)
    for axis, (key, name) in zip(axes, plots.ACCURACIES.items(), strict=True):
        values = matrix(rows, key)
        image = axis.imshow(values, cmap="viridis")
        for (i, j), value in np.ndenumerate(values):
            if not np.isnan(value):
                axis.text(j, i, f"{value:.1f}", ha="center", va="center")
        axis.set_xticks(range(len(NAMES)), NAMES, rotation=45)
        axis.set_yticks(range(len(NAMES)), NAMES)
        axis.set_title(f"{name} top-1 (%)")
        fig.colorbar(image, ax=axis, shrink=0.8)
    plots.save(fig, path)


register_study(
    "augmentations",
    summary="SimCLR with 1-2 of crop/colour/blur/grayscale/flip (Fig. 5).",
    points=points,
    columns=("first", "second", "linear_top1", "knn_top1", "loss"),
    plot=plot,
)
