"""Beam transforms that turn an image folder into checked TFRecord examples.

A folder is read by `ssl_tf.data.list_image_folder`, as the library's
`folder` source reads it:

    <root>/<class>/.../<file>          one split, "train"
    <root>/<split>/<class>/.../<file>  when every sub-folder is a split name

Class sub-folders become labels: the sorted class names over all splits
are numbered from 0, so a class has the same label in every split. A folder
of files without class sub-folders gives unlabeled examples.
"""

from __future__ import annotations

import json
import os

import apache_beam as beam
import tensorflow as tf
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

import ssl_tf

SKIPPED_FILE = "skipped.jsonl"
COUNTS_FILE = "counts.jsonl"
REPORT_FILE = "report.json"


def list_image_folder(root: str) -> tuple[dict[str, list], tuple[str, ...]]:
    """`({split: [(path, label or -1)]}, class_names)` of an image folder.

    The listing is `ssl_tf.data.list_image_folder`, the rule the library's
    `folder` source reads with, so labels agree between the two.

    Raises:
        ValueError: if `root` is missing, or mixes split and other folders.
    """
    folder = ssl_tf.data.list_image_folder(root)
    splits = {}
    for name, files in folder.splits.items():
        # Python lists for Beam: the listing holds compact arrays.
        paths = list(files.paths)
        labels = [-1] * len(paths)
        if files.labels is not None:
            labels = files.labels.tolist()
        splits[name] = list(zip(paths, labels, strict=True))
    return splits, folder.class_names


def check_file(item: tuple[str, int]) -> dict:
    """Reads one file and decides, as ssl_tf's scan does, if it is usable."""
    path, label = item
    try:
        with FileSystems.open(
            path, compression_type=CompressionTypes.UNCOMPRESSED
        ) as f:
            data = f.read()
    except OSError as error:
        return {"path": path, "label": label, "reason": f"unreadable ({error})"}
    _, reason = ssl_tf.data.inspect_image_bytes(data)
    return {"path": path, "label": label, "reason": reason, "data": data}


def to_example(checked: dict) -> bytes:
    feature = {
        "image": tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[checked["data"]])
        )
    }
    if checked["label"] >= 0:
        feature["label"] = tf.train.Feature(
            int64_list=tf.train.Int64List(value=[checked["label"]])
        )
    example = tf.train.Example(features=tf.train.Features(feature=feature))
    return example.SerializeToString()


class ImageFilesToExamples(beam.PTransform):
    """`(path, label)` pairs -> checked, sharded TFRecords of one split.

    Returns the skipped files as JSON lines and the split's example count
    as one JSON line, so the caller can write a report.

    Args:
        split: the split name, used in stage labels and records.
        file_path_prefix: prefix of the TFRecord shards.
        num_shards: number of shards; 0 lets the runner decide.
    """

    def __init__(self, split, file_path_prefix, num_shards=0):
        super().__init__()
        self.split = split
        self.file_path_prefix = file_path_prefix
        self.num_shards = num_shards

    def expand(self, files):
        checked = (
            files
            # Reshuffle: spread the file list over workers before reading.
            | "Reshuffle" >> beam.Reshuffle()
            | "Check" >> beam.Map(check_file)
        )
        good, bad = checked | "Partition" >> beam.Partition(
            lambda item, _: int(item["reason"] is not None), 2
        )
        _ = (
            good
            | "ToExample" >> beam.Map(to_example)
            | "Write"
            >> beam.io.WriteToTFRecord(
                self.file_path_prefix,
                file_name_suffix=".tfrecord",
                num_shards=self.num_shards,
            )
        )
        split = self.split
        count = (
            good
            | "Count" >> beam.combiners.Count.Globally()
            | "CountJson"
            >> beam.Map(
                lambda n: json.dumps({"split": split, "num_examples": n})
            )
        )
        skipped = bad | "SkippedJson" >> beam.Map(
            lambda item: json.dumps(
                {"split": split, "path": item["path"], "reason": item["reason"]}
            )
        )
        return skipped, count


def write_report(directory: str, class_names) -> dict:
    """Collects the small Beam outputs into `report.json`; returns it."""

    def lines(name):
        with open(os.path.join(directory, name)) as handle:
            return [json.loads(line) for line in handle if line.strip()]

    counts = {row["split"]: row["num_examples"] for row in lines(COUNTS_FILE)}
    skipped = lines(SKIPPED_FILE)
    report = {
        "num_examples": counts,
        "num_skipped": len(skipped),
        "skipped": sorted(skipped, key=lambda row: row["path"]),
        "class_names": list(class_names),
    }
    with open(os.path.join(directory, REPORT_FILE), "w") as handle:
        json.dump(report, handle, indent=2)
    return report
