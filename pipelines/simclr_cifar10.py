"""SimCLR on CIFAR-10 from TFDS: examples -> pretrain -> judge -> push.

    ssl-tf pipeline run pipelines/simclr_cifar10.py \\
        tfds_data_dir=../shared/tfds [--direct_num_workers=2 \\
        --direct_running_mode=multi_processing]

The `cifar10-quick` preset (ResNet-18 x0.25, 32 px, 3 epochs), judged by
kNN and a linear probe on the test split. It is blessed when its linear
top-1 reaches `LINEAR_TOP1_FLOOR` and drops no more than `MAX_DROP` below
the last blessed version's, and then pushed to `saved_models/<name>/<v>/`.
`smoke=True` is the CI variant: 16 px, batch 8, 2 steps, kNN only.
"""

from __future__ import annotations

from pipelines import pipeline
from pipelines.config import PipelineConfig, preset_experiment, smoke_experiment

# Random-init ResNet-18 x0.25 probes at ~40% on CIFAR-10 (README), the
# quick SimCLR run at ~52%.
LINEAR_TOP1_FLOOR = 0.45
MAX_DROP = 0.02


def create_pipeline(
    pipeline_root: str = "runs/pipelines/simclr_cifar10",
    tfds_data_dir: str = "",
    push_destination: str = "",
    smoke: bool = False,
    beam_pipeline_args: list[str] | None = None,
) -> pipeline.Pipeline:
    """The pipeline; `tfds_data_dir` holds the prepared `cifar10`."""
    if smoke:
        config = PipelineConfig(
            experiment=smoke_experiment("simclr", "simclr-cifar10-smoke"),
            evaluations={"knn": {"k": 5, "batch_size": 8}},
            num_shards=2,
            push_destination=push_destination,
        )
    else:
        config = PipelineConfig(
            experiment=preset_experiment(
                "cifar10-quick", "simclr", "simclr-cifar10"
            ),
            evaluations={"knn": {}, "linear": {}},
            thresholds={
                "linear_top1": {
                    "lower_bound": LINEAR_TOP1_FLOOR,
                    "change": {"absolute": -MAX_DROP},
                }
            },
            push_destination=push_destination,
        )
    return pipeline.create_pipeline(
        "simclr_cifar10",
        pipeline_root,
        config,
        tfds_name="cifar10",
        tfds_data_dir=tfds_data_dir,
        beam_pipeline_args=beam_pipeline_args,
    )
