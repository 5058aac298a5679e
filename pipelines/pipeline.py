"""`create_pipeline`: image folder -> examples -> pretrained encoder -> results.

ImageExampleGen -> Pretrain -> Evaluator (every protocol, then a blessing)
                            -> BulkEmbed (when `embed_splits` is set)
"""

from __future__ import annotations

import dataclasses
import json

import components
from components import BaseComponent, Channel

# A folder without split folders is hash-split into the splits the Evaluator
# reads; one with split folders keeps its own (and must have these two).
TRAIN_TEST_SPLIT = {
    "split_config": {
        "splits": [
            {"name": "train", "hash_buckets": 8},
            {"name": "test", "hash_buckets": 2},
        ]
    }
}


@dataclasses.dataclass
class Pipeline:
    """Components in execution order, wired by their artifacts.

    Args:
        pipeline_name: name recorded with every execution.
        pipeline_root: outputs go to `<root>/<component>/<output>/<id>`.
        components: the nodes; each input must come from an earlier node.
        beam_pipeline_args: `PipelineOptions` flags for Beam components.
    """

    pipeline_name: str
    pipeline_root: str
    components: list[BaseComponent]
    beam_pipeline_args: list[str] = dataclasses.field(default_factory=list)

    def __post_init__(self):
        seen = set()
        for node in self.components:
            if node.id in seen:
                raise ValueError(
                    f"Duplicate component id {node.id!r}; use `.with_id()`."
                )
            for key, channel in node.inputs.items():
                if channel.producer.id not in seen:
                    raise ValueError(
                        f"{node.id}.{key} reads {channel.producer.id}."
                        f"{channel.key}, which is not produced earlier in the "
                        "pipeline."
                    )
            seen.add(node.id)


def _evaluator(examples: Channel, model: Channel, evaluations: dict):
    if not evaluations:
        return []
    return [
        components.Evaluator(
            examples=examples,
            model=model,
            protocols_json=json.dumps(evaluations, sort_keys=True),
        )
    ]


def _embedding(examples: Channel, model: Channel, splits):
    if not splits:
        return []
    return [
        components.BulkEmbed(
            examples=examples, model=model, splits=",".join(splits)
        )
    ]


def create_pipeline(
    pipeline_name: str,
    pipeline_root: str,
    data_root: str,
    config,
    beam_pipeline_args: list[str] | None = None,
) -> Pipeline:
    """The pretraining pipeline of `config` (a `PipelineConfig`).

    Args:
        pipeline_name: recorded in the metadata.
        pipeline_root: where every artifact is written.
        data_root: image folder; class sub-folders are labels, optional
            `train/` and `test/` folders are splits.
        config: a `pipelines.config.PipelineConfig`.
        beam_pipeline_args: e.g. `["--runner=DirectRunner",
            "--direct_num_workers=2"]`, or Dataflow/Flink/Spark options.
    """
    example_gen = components.ImageExampleGen(
        input_base=data_root,
        output_config=json.dumps(TRAIN_TEST_SPLIT),
        required_splits="train,test",
        num_shards=config.num_shards,
    )
    examples = example_gen.outputs["examples"]
    pretrain = components.Pretrain(
        examples=examples, config_json=config.experiment.to_json()
    )
    model = pretrain.outputs["model"]
    return Pipeline(
        pipeline_name=pipeline_name,
        pipeline_root=pipeline_root,
        components=[
            example_gen,
            pretrain,
            *_evaluator(examples, model, config.evaluations),
            *_embedding(examples, model, config.embed_splits),
        ],
        beam_pipeline_args=list(beam_pipeline_args or []),
    )
