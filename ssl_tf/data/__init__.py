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
    SPLIT_NAMES,
    DataError,
    ImageFolder,
    Source,
    SourceInfo,
    command_line_sources,
    list_image_folder,
    load_arrays,
    load_folder,
    load_manifest,
    load_source,
    load_tfds,
    load_tfrecord,
    open_source,
    register_source,
)

__all__ = [
    "pipeline",
    "SPLIT_NAMES",
    "ImageFolder",
    "IMAGE_EXTENSIONS",
    "DataError",
    "NoUsableImagesError",
    "ScanReport",
    "Source",
    "SourceInfo",
    "command_line_sources",
    "decode_image",
    "eval_dataset",
    "inspect_image_bytes",
    "list_image_folder",
    "load_arrays",
    "load_folder",
    "load_manifest",
    "load_source",
    "load_tfds",
    "load_tfrecord",
    "open_source",
    "pretrain_dataset",
    "register_source",
    "steps_per_epoch",
]
