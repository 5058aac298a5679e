"""`projection-head`: which layer to keep, as in SimCLR's Figure 8.

SimCLR is pretrained with no head, a linear head, and a 2- and a 3-layer
MLP head; each is scored on the encoder's features `h` and after every
head layer (`z1`, `z2`, ...). SimCLR found `h` better than the head's
output by over 10 points with a non-linear head: the head discards
information the loss does not need.

Reference:
 - [Chen et al., 2020](https://arxiv.org/abs/2002.05709), Figure 8.
"""

from __future__ import annotations

import keras
import numpy as np

from ssl_tf.studies import plots
from ssl_tf.studies.base import Point, register_study

# Head name -> SimCLR `projection_dims` (SimCLR v1's sizes, v2's depth).
HEADS = {
    "none": (),
    "linear": (128,),
    "mlp2": (512, 128),
    "mlp3": (512, 512, 128),
}


def points(options) -> list[Point]:
    del options  # the same grid at every budget
    return [
        Point(
            name,
            {"method": "simclr", "projection_dims": dims},
            {"head": name},
        )
        for name, dims in HEADS.items()
    ]


def layer_name(depth: int) -> str:
    """`h` for the encoder's features, `z<k>` after head layer k."""
    return "h" if depth == 0 else f"z{depth}"


def head_prefix(head, depth: int, dim: int) -> keras.Model:
    """The first `depth` layers of a `ProjectionHead`, as a Keras model.

    Applied to the encoder's features `h` (of size `dim`) it gives the
    output of head layer `depth`, as `keras.Model(encoder.input,
    head.layer_outputs(encoder.output)[depth - 1])` would from images; the
    study embeds the images once and runs every prefix on `h`.
    """
    inputs = keras.Input((dim,))
    outputs = head.layer_outputs(inputs, training=False)[depth - 1]
    return keras.Model(inputs, outputs)


def measure(point, config, result, evaluation, options) -> list[dict]:
    """One row per layer: `h` and each head layer's output."""
    del options  # every budget is measured alike
    embedded = evaluation.embed(result.model.encoder, config.data)
    rows = [{"layer": "h", **evaluation.score_features(*embedded, config.data)}]
    for depth in range(1, len(HEADS[point.labels["head"]]) + 1):
        prefix = head_prefix(
            result.model.projector, depth, embedded[0].shape[-1]
        )
        projected = [
            np.asarray(prefix.predict(h, batch_size=1024, verbose=0))
            for h in embedded
        ]
        rows.append(
            {
                "layer": layer_name(depth),
                **evaluation.score_features(*projected, config.data),
            }
        )
    return rows


def plot(rows, path) -> None:
    """Bars per head, one per layer; linear probe left, kNN right."""
    fig, axes = plots.figure(panels=2)
    heads = list(dict.fromkeys(row["head"] for row in rows))
    layers = sorted({row["layer"] for row in rows})
    width = 0.8 / len(layers)
    for axis, (key, name) in zip(axes, plots.ACCURACIES.items(), strict=True):
        for index, layer in enumerate(layers):
            chosen = [r for r in rows if r["layer"] == layer]
            where = np.array([heads.index(r["head"]) for r in chosen])
            axis.bar(
                where + (index - (len(layers) - 1) / 2) * width,
                plots.percent(chosen, key),
                width,
                label=layer,
            )
        axis.set_xticks(range(len(heads)), heads)
        axis.set_xlabel("projection head")
        axis.set_ylabel(f"{name} top-1 accuracy (%)")
        axis.set_title(f"{name}: h and each head layer")
        # Headroom above the bars for a one-row legend that hides none.
        top = np.nanmax(plots.percent(rows, key))
        axis.set_ylim(0, 1.3 * top)
        axis.legend(
            title="features",
            fontsize="small",
            loc="upper center",
            ncols=len(layers),
        )
    plots.save(fig, path)


register_study(
    "projection-head",
    summary="SimCLR heads (none to 3 layers) scored at each layer (Fig. 8).",
    points=points,
    columns=("head", "layer", "linear_top1", "knn_top1", "loss"),
    plot=plot,
    measure=measure,
)
