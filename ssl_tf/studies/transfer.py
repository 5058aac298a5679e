"""`transfer`: the seed's transfer table in small form.

The CBR family (Tiny, Small, LargeT, LargeW) and ResNet-18, at the preset's
width, each fine-tuned on a target dataset (Fashion-MNIST unless
`--target-source` / `--target` name another, e.g. a folder of your own
images with `train/` and `test/` sub-folders) with 1%, 10% and 100% of its
labels, starting from:

- `random`: random init (no pretraining);
- `supervised-cifar10`, `simclr-cifar10`: an encoder pretrained on the
  preset's data (CIFAR-10) with labels, or by SimCLR without;
- `simclr-target`: SimCLR on the target's own (unlabelled) training images;
- `simclr-cifar10+target`: the CIFAR-10 SimCLR encoder, pretrained further
  on the target's images (`encoder.init_from`), the in-domain recipe of
  Azizi et al. 2021.

Each fine-tune sees as many images as `--epochs` passes over all the
target's labels: `epochs / fraction` epochs of the labelled subset.

Reference:
 - [Raghu et al., 2019](https://arxiv.org/abs/1902.07208) (CBR models)
 - [Azizi et al., 2021](https://arxiv.org/abs/2101.05224)
"""

from __future__ import annotations

import dataclasses
import math
import os

import numpy as np

from ssl_tf.config import DataConfig
from ssl_tf.evaluation import protocols
from ssl_tf.studies import plots
from ssl_tf.studies.base import Point, get_study, point_config, register_study

ENCODERS = ("cbr_tiny", "cbr_small", "cbr_large_t", "cbr_large_w", "resnet18")
INITS = (
    "random",
    "supervised-cifar10",
    "simclr-cifar10",
    "simclr-target",
    "simclr-cifar10+target",
)
FRACTIONS = (0.01, 0.1, 1.0)
DEFAULT_TARGET = "fashion_mnist"


def target_overrides(options) -> dict:
    """The data overrides that make the target the pretraining data."""
    return {
        "data.source": options.target_source,
        "data.name": options.target or DEFAULT_TARGET,
    }


def _point(encoder, init, overrides, pretrain=True) -> Point:
    return Point(
        f"{encoder}-{init}",
        {"encoder.name": encoder, **overrides},
        {"encoder": encoder, "init": init},
        pretrain=pretrain,
    )


def points(options) -> list[Point]:
    """Per encoder, the five starting points in `INITS` order."""
    grid = []
    target = target_overrides(options)
    for encoder in ENCODERS:
        cifar10 = _point(encoder, "simclr-cifar10", {"method": "simclr"})
        config = point_config(get_study("transfer"), cifar10, options)
        cifar10_export = os.path.join(config.export_dir, config.name)
        grid += [
            _point(encoder, "random", {"method": "simclr"}, pretrain=False),
            _point(encoder, "supervised-cifar10", {"method": "supervised"}),
            cifar10,
            _point(encoder, "simclr-target", {"method": "simclr", **target}),
            _point(
                encoder,
                "simclr-cifar10+target",
                {
                    "method": "simclr",
                    **target,
                    "encoder.init_from": cifar10_export,
                },
            ),
        ]
    return grid


def finetune_options(config, result, fraction: float, epochs: int) -> dict:
    """The `finetune` protocol's options for one label fraction."""
    options = {
        "label_fraction": fraction,
        "epochs": math.ceil(epochs / fraction),
        "seed": config.train.seed,
    }
    if result is None:
        options["random_init"] = True
        options["encoder"] = dataclasses.asdict(config.encoder)
    return options


def measure(point, config, result, evaluation, options) -> list[dict]:
    """Fine-tunes at each label fraction on the target."""
    del point, evaluation  # every point is fine-tuned alike
    overrides = target_overrides(options)
    target = DataConfig(
        source=overrides["data.source"],
        name=overrides["data.name"],
        image_size=config.data.image_size,
    )
    return [
        {
            "label_fraction": fraction,
            "finetune_top1": protocols.run(
                "finetune",
                None if result is None else result.export_dir,
                target,
                options=finetune_options(
                    config, result, fraction, config.train.epochs
                ),
            )["metrics"]["top1"],
        }
        for fraction in FRACTIONS
    ]


def plot(rows, path) -> None:
    """One panel per label fraction: bars per encoder, one per init."""
    fig, axes = plots.figure(panels=len(FRACTIONS))
    encoders = list(dict.fromkeys(row["encoder"] for row in rows))
    inits = [i for i in INITS if any(row["init"] == i for row in rows)]
    width = 0.8 / max(len(inits), 1)
    for axis, fraction in zip(axes, FRACTIONS, strict=True):
        for index, init in enumerate(inits):
            chosen = [
                r
                for r in rows
                if r["init"] == init and r["label_fraction"] == fraction
            ]
            where = np.array([encoders.index(r["encoder"]) for r in chosen])
            axis.bar(
                where + (index - (len(inits) - 1) / 2) * width,
                plots.percent(chosen, "finetune_top1"),
                width,
                label=init,
            )
        axis.set_xticks(range(len(encoders)), encoders, rotation=45)
        axis.set_title(f"{fraction:.0%} of the labels")
    axes[0].set_ylabel("fine-tuned top-1 (%)")
    axes[0].legend(fontsize="x-small")
    plots.save(fig, path)


register_study(
    "transfer",
    summary="CBR Tiny/Small/LargeT/LargeW and ResNet-18 fine-tuned on a "
    "target (Fashion-MNIST) at 1/10/100% labels, from random, CIFAR-10 "
    "or target pretraining.",
    points=points,
    columns=("encoder", "init", "label_fraction", "finetune_top1"),
    plot=plot,
    measure=measure,
    uses_target=True,
    exports=True,
)
