"""TFRecords of `tf.train.Example` with encoded image bytes (+ int label)."""

from __future__ import annotations

import glob

import numpy as np
import tensorflow as tf

from ssl_tf.data import images as image_io
from ssl_tf.data.sources.base import (
    DataError,
    Source,
    SourceInfo,
    register_source,
)

_IMAGE_KEYS = ("image", "image/encoded", "image_raw")
_LABEL_KEYS = ("label", "image/class/label")


def _record_keys(first_record):
    example = tf.train.Example.FromString(first_record)
    keys = set(example.features.feature)
    image_key = next((k for k in _IMAGE_KEYS if k in keys), None)
    label_key = next((k for k in _LABEL_KEYS if k in keys), None)
    if image_key is None:
        raise DataError(
            f"TFRecord examples have no image bytes feature; looked for "
            f"{list(_IMAGE_KEYS)}, found {sorted(keys)}."
        )
    return image_key, label_key


def open_tfrecord(pattern, image_size) -> Source:
    """`tf.train.Example` records with encoded image bytes (+ int label)."""
    files = sorted(glob.glob(pattern))
    if not files:
        raise DataError(f"No TFRecord files match {pattern!r}.")
    raw = tf.data.TFRecordDataset(files)
    records = [r.numpy() for r in raw]
    if not records:
        raise DataError(f"TFRecord files {pattern!r} hold no records.")
    image_key, label_key = _record_keys(records[0])

    def image_bytes(record):
        return (
            tf.train.Example.FromString(record)
            .features.feature[image_key]
            .bytes_list.value[0]
        )

    report = image_io.scan_bytes(
        (f"{pattern}#{i}", image_bytes(r)) for i, r in enumerate(records)
    )
    image_io.require_usable(report, pattern)
    keep = np.zeros(len(records), bool)
    for item in report.good:
        keep[int(item.rsplit("#", 1)[1])] = True
    spec = {image_key: tf.io.FixedLenFeature([], tf.string)}
    if label_key:
        spec[label_key] = tf.io.FixedLenFeature([], tf.int64)

    def decode(record):
        example = tf.io.parse_single_example(record, spec)
        out = {"images": image_io.decode_image(example[image_key], image_size)}
        if label_key:
            out["labels"] = example[label_key]
        return out

    usable = (
        tf.data.Dataset.zip((raw, tf.data.Dataset.from_tensor_slices(keep)))
        .filter(lambda record, ok: ok)
        .map(lambda record, ok: record)
    )
    num_classes = None
    if label_key:
        labels = [
            tf.train.Example.FromString(r)
            .features.feature[label_key]
            .int64_list.value[0]
            for r, k in zip(records, keep, strict=True)
            if k
        ]
        num_classes = int(max(labels)) + 1 if labels else None
    info = SourceInfo(
        num_examples=int(keep.sum()),
        num_classes=num_classes,
        description=f"tfrecord:{pattern}",
        scan=report,
    )
    return Source(info=info, records=usable, decode=decode)


@register_source("tfrecord")
def tfrecord_source(data_config, split, arrays=None) -> Source:
    """TFRecord files matching `data.name` (`{split}` is replaced)."""
    pattern = data_config.name
    if "{split}" in pattern:
        pattern = pattern.format(split=split)
    return open_tfrecord(pattern, data_config.image_size)
