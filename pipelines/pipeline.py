"""`create_pipeline`: image folder -> examples -> pretrained encoder -> results.

ImageExampleGen -> Pretrain -> Evaluator (every protocol, then a blessing
                               against LatestBlessedModel) -> Pusher
                            -> BulkEmbed (when `embed_splits` is set)
"""

from __future__ import annotations

import dataclasses
import json

import components
from components import BaseComponent, Channel
from pipelines.resolver import LatestBlessedModel

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
    """Components wired by their artifacts, run in topological order.

    Args:
        pipeline_name: name recorded with every run.
        pipeline_root: outputs go to `<root>/<component>/<output>/<key>`.
        components: the nodes, in any order: `__post_init__` sorts them
            so that each runs after the nodes it reads (ties keep the
            given order).
        beam_pipeline_args: `PipelineOptions` flags for Beam components.

    Raises:
        ValueError: for a duplicate id, an input whose producer is not in
            the pipeline, or a cycle.
    """

    pipeline_name: str
    pipeline_root: str
    components: list[BaseComponent]
    beam_pipeline_args: list[str] = dataclasses.field(default_factory=list)

    def __post_init__(self):
        nodes = {}
        for node in self.components:
            if node.id in nodes:
                raise ValueError(
                    f"Duplicate component id {node.id!r}; use `.with_id()`."
                )
            nodes[node.id] = node
        for node in self.components:
            for key, channel in node.inputs.items():
                if nodes.get(channel.producer.id) is not channel.producer:
                    raise ValueError(
                        f"{node.id}.{key} reads {channel.producer.id}."
                        f"{channel.key}, which is not produced by a component "
                        "of this pipeline."
                    )
        self.components = _topological_order(self.components)


def _topological_order(nodes: list[BaseComponent]) -> list[BaseComponent]:
    """Kahn's algorithm; the earliest ready node in list order goes first."""
    upstream = {
        node.id: {channel.producer.id for channel in node.inputs.values()}
        for node in nodes
    }
    ordered, done = [], set()
    while len(ordered) < len(nodes):
        ready = [
            node
            for node in nodes
            if node.id not in done and upstream[node.id] <= done
        ]
        if not ready:
            stuck = sorted(set(upstream) - done)
            raise ValueError(
                f"The pipeline's wiring has a cycle among {stuck}."
            )
        ordered.append(ready[0])
        done.add(ready[0].id)
    return ordered


def _judged_and_pushed(examples, model, config, pipeline_name):
    """Evaluator (against the latest blessed model) and Pusher, as TFX's
    Resolver -> Evaluator -> Pusher; none without evaluations."""
    if not config.evaluations:
        return []
    latest = LatestBlessedModel(model=model)
    evaluator = components.Evaluator(
        examples=examples,
        model=model,
        baseline=latest.outputs["blessing"],
        protocols_json=json.dumps(config.evaluations, sort_keys=True),
        thresholds_json=json.dumps(config.thresholds, sort_keys=True),
    )
    pusher = components.Pusher(
        model=model,
        blessing=evaluator.outputs["blessing"],
        model_name=pipeline_name,
        push_destination=config.push_destination,
    )
    return [latest, evaluator, pusher]


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
    config,
    data_root: str = "",
    tfds_name: str = "",
    tfds_data_dir: str = "",
    beam_pipeline_args: list[str] | None = None,
) -> Pipeline:
    """The pretraining pipeline of `config` (a `PipelineConfig`).

    ImageExampleGen -> Pretrain -> Evaluator (thresholds, against the
    latest blessed model) -> Pusher (blessed models only), and BulkEmbed
    when `config.embed_splits` is set.

    Args:
        pipeline_name: recorded in the metadata; the pushed model's name.
        pipeline_root: where every artifact is written.
        config: a `pipelines.config.PipelineConfig`.
        data_root: an image folder (class sub-folders are labels, optional
            `train/` and `test/` folders are splits; else it is hash-split
            8 : 2) or a CSV/JSONL manifest.
        tfds_name: instead of `data_root`, a prepared TFDS dataset with
            `train` and `test` splits, read offline from `tfds_data_dir`.
        beam_pipeline_args: e.g. `["--runner=DirectRunner",
            "--direct_num_workers=2"]`, or Dataflow/Flink/Spark options.
    """
    if bool(data_root) == bool(tfds_name):
        raise ValueError(
            "Give exactly one input: `data_root` (an image folder or a "
            "manifest) or `tfds_name`. Received: "
            f"data_root={data_root!r}, tfds_name={tfds_name!r}"
        )
    example_gen = components.ImageExampleGen(
        input_base=data_root,
        tfds_name=tfds_name,
        tfds_split="train,test" if tfds_name else "train",
        tfds_data_dir=tfds_data_dir,
        output_config="" if tfds_name else json.dumps(TRAIN_TEST_SPLIT),
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
            *_judged_and_pushed(examples, model, config, pipeline_name),
            *_embedding(examples, model, config.embed_splits),
        ],
        beam_pipeline_args=list(beam_pipeline_args or []),
    )
