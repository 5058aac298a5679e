"""SimCLR on CIFAR-10 as image files: `<data_root>/{train,test}/<class>/`.

`get_config()` is the `cifar10-quick` preset (ResNet-18 x0.25, 32 px, 3
epochs; about 15 minutes on a 2-core CPU) judged by kNN and a linear probe.
`get_config(smoke=True)` is the CI variant: 16 px, batch 8, 2 steps, kNN.
"""

from __future__ import annotations

import dataclasses

from pipelines.config import PipelineConfig
from ssl_tf import presets


def get_config(smoke: bool = False) -> PipelineConfig:
    if smoke:
        experiment = presets.get_preset("smoke", "simclr")
        experiment = dataclasses.replace(
            experiment,
            name="simclr-cifar10-smoke",
            # "default": one device, without probing for a TPU.
            train=dataclasses.replace(experiment.train, strategy="default"),
        )
        return PipelineConfig(
            experiment=experiment,
            evaluations={"knn": {"k": 5, "batch_size": 8}},
            num_shards=2,
        )
    experiment = dataclasses.replace(
        presets.get_preset("cifar10-quick", "simclr"), name="simclr-cifar10"
    )
    return PipelineConfig(
        experiment=experiment,
        evaluations={"knn": {}, "linear": {}},
        embed_splits=("test",),
    )
