"""`temperature`: how τ shapes NT-Xent and the margin c the triplet loss.

The lecture's questions "how does τ affect the contrastive loss, how does
c affect the triplet loss", answered with measured curves: SimCLR at
τ from 0.01 to 1 beside the triplet method at margins c from 0.01 to 1,
each point's final pretraining loss drawn with its downstream accuracy.
"""

from __future__ import annotations

from ssl_tf.studies import plots
from ssl_tf.studies.base import Point, register_study

VALUES = (0.01, 0.05, 0.1, 0.2, 0.5, 1.0)
# Method -> (its option swept, the loss it shapes).
SWEEPS = {
    "simclr": ("temperature", "NT-Xent"),
    "triplet": ("margin", "triplet"),
}


def points(options) -> list[Point]:
    """Both sweeps interleaved, so `--points 2` already draws both."""
    del options  # the same grid at every budget
    return [
        Point(
            f"{method}-{option}-{value:g}",
            {"method": method, option: value},
            {"method": method, "parameter": option, "value": value},
        )
        for value in VALUES
        for method, (option, _) in SWEEPS.items()
    ]


def plot(rows, path) -> None:
    """Per loss: accuracies (left axis) and final loss (right) vs value."""
    fig, axes = plots.figure(panels=len(SWEEPS))
    for axis, (method, (option, loss_name)) in zip(
        axes, SWEEPS.items(), strict=True
    ):
        chosen = [row for row in rows if row["method"] == method]
        axis.set_xscale("log")
        axis.set_xlabel(option)
        axis.set_title(f"{loss_name} loss ({method})")
        plots.accuracy_lines(axis, chosen, "value")
        loss_axis = axis.twinx()
        loss_axis.plot(
            [row["value"] for row in chosen],
            [row["loss"] for row in chosen],
            "k--^",
            label="final loss",
        )
        loss_axis.set_ylabel("final pretraining loss")
        lines = axis.get_legend_handles_labels()
        more = loss_axis.get_legend_handles_labels()
        axis.legend(lines[0] + more[0], lines[1] + more[1], fontsize="small")
    plots.save(fig, path)


register_study(
    "temperature",
    summary="NT-Xent temperature and triplet margin from 0.01 to 1: final "
    "loss and accuracy.",
    points=points,
    columns=("method", "parameter", "value", "linear_top1", "knn_top1", "loss"),
    plot=plot,
)
