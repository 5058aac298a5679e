"""Data: image sources and the batched pretraining pipeline."""

from ssl_tf.data import pipeline
from ssl_tf.data.images import (
    IMAGE_EXTENSIONS,
    NoUsableImagesError,
    ScanReport,
    decode_image,
    inspect_image_bytes,
)
from ssl_tf.data.pipeline import eval_dataset, pretrain_dataset, steps_per_epoch
from ssl_tf.data.sources import (
    DataError,
    SourceInfo,
    load_arrays,
    load_folder,
    load_manifest,
    load_source,
    load_tfds,
    load_tfrecord,
)

__all__ = [
    "pipeline",
    "IMAGE_EXTENSIONS",
    "DataError",
    "NoUsableImagesError",
    "ScanReport",
    "SourceInfo",
    "decode_image",
    "eval_dataset",
    "inspect_image_bytes",
    "load_arrays",
    "load_folder",
    "load_manifest",
    "load_source",
    "load_tfds",
    "load_tfrecord",
    "pretrain_dataset",
    "steps_per_epoch",
]
