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
    """

    experiment: Any
    evaluations: dict[str, dict] = dataclasses.field(
        default_factory=lambda: {"knn": {}, "linear": {}}
    )
    embed_splits: tuple[str, ...] = ()
    num_shards: int = 0
