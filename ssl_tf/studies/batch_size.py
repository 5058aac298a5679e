"""`batch-size`: SimCLR and MoCo at batch 64 to 512, epochs fixed.

SimCLR's negatives are the other images of the batch, MoCo's come from a
queue of K keys whatever the batch: the queue should make MoCo less
sensitive to the batch size. The learning rate follows the preset's
scaling rule (`train.lr_scaling`, linear by default).

Reference:
 - [Chen et al., 2020](https://arxiv.org/abs/2002.05709), Figure 9.
 - [He et al., 2019](https://arxiv.org/abs/1911.05722)
"""

from __future__ import annotations

import math

from ssl_tf import methods, presets
from ssl_tf.studies import plots
from ssl_tf.studies.base import Point, register_study

BATCH_SIZES = (64, 128, 256, 512)
METHODS = ("simclr", "moco")


def queue_size(preset: str, batch_size: int) -> int:
    """The preset's MoCo queue, rounded up to a multiple of the batch.

    MoCo requires a multiple (the queue pointer must wrap to 0 exactly).
    """
    config = presets.get_preset(preset, "moco")
    queue = methods.make_method_config("moco", config.method_options).queue_size
    return math.ceil(queue / batch_size) * batch_size


def points(options) -> list[Point]:
    """Both methods at each batch size, so `--points 2` draws both."""
    grid = []
    for batch_size in BATCH_SIZES:
        for method in METHODS:
            overrides = {"method": method, "train.batch_size": batch_size}
            if method == "moco":
                overrides["queue_size"] = queue_size(options.preset, batch_size)
            grid.append(
                Point(
                    f"{method}-b{batch_size}",
                    overrides,
                    {"method": method, "batch_size": batch_size},
                )
            )
    return grid


def plot(rows, path) -> None:
    """Accuracy against the batch size (log scale), a pair per method."""
    fig, (axis,) = plots.figure()
    for method in METHODS:
        chosen = [row for row in rows if row["method"] == method]
        if chosen:
            plots.accuracy_lines(axis, chosen, "batch_size", label=method)
    axis.set_xscale("log", base=2)
    axis.set_xlabel("batch size (epochs fixed)")
    axis.set_title("Batch size: in-batch negatives (SimCLR) vs a queue (MoCo)")
    axis.legend(fontsize="small")
    plots.save(fig, path)


register_study(
    "batch-size",
    summary="SimCLR and MoCo at batch 64-512 with the epochs fixed.",
    points=points,
    columns=("method", "batch_size", "linear_top1", "knn_top1", "loss"),
    plot=plot,
)
