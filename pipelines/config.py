"""`PipelineConfig`: what `create_pipeline` needs beyond paths."""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """One experiment as a pipeline.

    Args:
        experiment: an `ssl_tf.config.ExperimentConfig`; its JSON form is the
            `Pretrain` parameter (its `data` source is replaced by the
            imported examples).
        evaluations: protocol name -> options, all run by one `Evaluator`.
        embed_splits: splits to embed with `BulkEmbed`; empty adds none.
        num_shards: TFRecord shards per split; 0 lets the runner decide.
        thresholds: the Evaluator's blessing thresholds (TFX's
            `MetricThreshold` shape, e.g. `{"linear_top1": {"lower_bound":
            0.45, "change": {"absolute": -0.02}}}`); none blesses every
            model.
        push_destination: where the Pusher installs blessed versions;
            default `saved_models/<pipeline name>`.
    """

    experiment: Any
    evaluations: dict[str, dict] = dataclasses.field(
        default_factory=lambda: {"knn": {}, "linear": {}}
    )
    embed_splits: tuple[str, ...] = ()
    num_shards: int = 0
    thresholds: dict[str, dict] = dataclasses.field(default_factory=dict)
    push_destination: str = ""


def preset_experiment(preset: str, method: str, name: str):
    """The `ExperimentConfig` of a registered preset, renamed `name`."""
    from ssl_tf import presets

    return dataclasses.replace(presets.get_preset(preset, method), name=name)


def smoke_experiment(method: str, name: str):
    """The `smoke` preset of `method` (16 px, batch 8, 2 steps) on one
    device (the `default` strategy: no probing for a TPU), for CI."""
    experiment = preset_experiment("smoke", method, name)
    return dataclasses.replace(
        experiment,
        train=dataclasses.replace(experiment.train, strategy="default"),
    )
