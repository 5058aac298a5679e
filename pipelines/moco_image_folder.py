"""MoCo v2 on an image folder: examples -> pretrain -> judge -> push.

    ssl-tf pipeline run pipelines/moco_image_folder.py data_root=/images

`data_root` holds class sub-folders (labels; `train/` and `test/` split
folders are kept, else the images are hash-split 8 : 2), or is a CSV/JSONL
manifest. Unreadable or corrupt files are skipped, counted and listed in
the examples' `skipped.jsonl`. The `cifar10-quick` MoCo recipe at 32 px,
judged by kNN and a linear probe on the test split, blessed when its kNN
top-1 drops no more than `MAX_DROP` below the last blessed version's, and
pushed to `saved_models/<name>/<v>/`. `smoke=True` is the CI variant.
"""

from __future__ import annotations

from pipelines import pipeline
from pipelines.config import PipelineConfig, preset_experiment, smoke_experiment

MAX_DROP = 0.02


def create_pipeline(
    data_root: str,
    pipeline_root: str = "runs/pipelines/moco_image_folder",
    push_destination: str = "",
    smoke: bool = False,
    beam_pipeline_args: list[str] | None = None,
) -> pipeline.Pipeline:
    """The pipeline over the images of `data_root`."""
    if smoke:
        experiment = smoke_experiment("moco", "moco-image-folder-smoke")
        evaluations = {"knn": {"k": 5, "batch_size": 8}}
    else:
        experiment = preset_experiment(
            "cifar10-quick", "moco", "moco-image-folder"
        )
        evaluations = {"knn": {}, "linear": {}}
    config = PipelineConfig(
        experiment=experiment,
        evaluations=evaluations,
        thresholds={"knn_top1": {"change": {"absolute": -MAX_DROP}}},
        num_shards=2 if smoke else 0,
        push_destination=push_destination,
    )
    return pipeline.create_pipeline(
        "moco_image_folder",
        pipeline_root,
        config,
        data_root=data_root,
        beam_pipeline_args=beam_pipeline_args,
    )
