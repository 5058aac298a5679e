"""Data: image sources and the batched pretraining pipeline."""

from ssl_tf.data import pipeline, sources
from ssl_tf.data.images import (
    IMAGE_EXTENSIONS,
    NoUsableImagesError,
    ScanReport,
    decode_image,
    inspect_image_bytes,
    inspect_images,
)
from ssl_tf.data.pipeline import eval_dataset, pretrain_dataset, steps_per_epoch

# The sources' API is the package's: `sources.__all__`.
from ssl_tf.data.sources import *  # noqa: F403

__all__ = [
    *sources.__all__,
    "IMAGE_EXTENSIONS",
    "NoUsableImagesError",
    "ScanReport",
    "decode_image",
    "eval_dataset",
    "inspect_image_bytes",
    "inspect_images",
    "pipeline",
    "pretrain_dataset",
    "sources",
    "steps_per_epoch",
]
