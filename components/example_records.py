"""Per-item steps of `ImageExampleGen`: check, split, encode, count.

Everything here runs inside Beam workers, so it is module-level and
picklable (DirectRunner's multi_processing mode imports it in each worker).
"""

from __future__ import annotations

import bisect
import collections
import hashlib
import json

import apache_beam as beam
import tensorflow as tf

import ssl_tf

COUNTER_NAMESPACE = "ImageExampleGen"
BAD_FILES = "bad_files"
EXAMPLES = "examples"
PARTITION_KEYS = ("path", "content")
DEFAULT_OUTPUT_CONFIG = {
    "split_config": {
        "splits": [
            {"name": "train", "hash_buckets": 8},
            {"name": "eval", "hash_buckets": 2},
        ]
    }
}


def hash_splits(output_config: str) -> tuple[list[str], list[int]]:
    """Names and hash buckets of TFX `Output` JSON (default train 8 : eval 2).

    Raises:
        ValueError: on malformed JSON, a split without buckets, or a
            repeated name.
    """
    try:
        config = json.loads(output_config) if output_config else None
        splits = (config or DEFAULT_OUTPUT_CONFIG)["split_config"]["splits"]
        names = [str(s["name"]) for s in splits]
        buckets = [int(s.get("hash_buckets", 0)) for s in splits]
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(
            "`output_config` must be TFX Output JSON, e.g. "
            f"{json.dumps(DEFAULT_OUTPUT_CONFIG)}. Received: {output_config!r}"
        ) from error
    for name, count in zip(names, buckets, strict=True):
        if count <= 0:
            raise ValueError(
                f"Split {name!r} has hash_buckets={count}: it would be "
                "empty. Give every split at least one bucket."
            )
    if not names or len(set(names)) != len(names):
        raise ValueError(f"Split names must be unique. Received: {names}")
    return names, buckets


def hash_bucket(key: bytes, buckets: list[int]) -> int:
    """TFX's hash split: the index of the split `key` falls in.

    `bucket = int(sha256(key), 16) % sum(buckets)`, then the first split
    whose cumulative bucket count exceeds it (as TFX's ExampleGen does).
    """
    bounds = list(_cumulative(buckets))
    bucket = int(hashlib.sha256(key).hexdigest(), 16) % bounds[-1]
    return bisect.bisect(bounds, bucket)


def _cumulative(buckets):
    total = 0
    for count in buckets:
        total += count
        yield total


def partition_key(item: dict, partition: str) -> bytes:
    """The relative path, or the sha256 of the content, as bytes."""
    if partition == "content":
        return hashlib.sha256(item["data"]).hexdigest().encode()
    return item["rel"].encode()


def example_key(rel: str) -> str:
    """The stable id of an example: sha256 of its relative path."""
    return hashlib.sha256(rel.encode()).hexdigest()


class CheckFn(beam.DoFn):
    """Batches of items -> usable items (main output) or skipped records
    (`skipped`).

    An image is usable when `ssl_tf.data.inspect_images` accepts it;
    greyscale, CMYK, palette and other kinds it accepts keep their bytes,
    which the library's `decode_image` converts. A batch is checked in one
    `inspect_images` call: one `tf.data` pass decodes all its images (a
    call per image built a pass per image, ~50 ms each, measured).
    """

    def __init__(self):
        super().__init__()
        self.bad = beam.metrics.Metrics.counter(COUNTER_NAMESPACE, BAD_FILES)
        self.good = beam.metrics.Metrics.counter(COUNTER_NAMESPACE, EXAMPLES)

    def process(self, items):
        readable = [item for item in items if item.get("reason") is None]
        results = dict(
            zip(
                map(id, readable),
                ssl_tf.data.inspect_images([i["data"] for i in readable]),
                strict=True,
            )
        )
        for item in items:
            _, reason, size = results.get(
                id(item), (None, item.get("reason"), None)
            )
            if reason is not None:
                self.bad.inc()
                yield beam.pvalue.TaggedOutput(
                    "skipped",
                    {
                        "path": item["path"],
                        "split": item["split"],
                        "reason": reason,
                    },
                )
                continue
            self.good.inc()
            height, width = size
            yield {**item, "height": height, "width": width}


class SplitFn:
    """Item -> output split index: the input's split, or a hash bucket."""

    def __init__(self, names, buckets=None, partition="path"):
        self.names = list(names)
        self.buckets = buckets
        self.partition = partition

    def __call__(self, item, num_partitions):
        if self.buckets is None:
            return self.names.index(item["split"])
        return hash_bucket(partition_key(item, self.partition), self.buckets)


def _feature(value) -> tf.train.Feature:
    if isinstance(value, int):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
    if isinstance(value, str):
        value = value.encode()
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def to_example(item: dict) -> bytes:
    """A usable item as a serialized `tf.train.Example`."""
    features = {
        "image": item["data"],
        "label": int(item["label"]),
        "key": example_key(item["rel"]),
        "path": item["path"],
        "height": int(item["height"]),
        "width": int(item["width"]),
    }
    example = tf.train.Example(
        features=tf.train.Features(
            feature={k: _feature(v) for k, v in features.items()}
        )
    )
    return example.SerializeToString()


def size_bucket(pixels: int) -> int:
    """The power-of-two bucket of a side length: its lower bound."""
    return 1 << (max(int(pixels), 1).bit_length() - 1)


class StatisticsFn(beam.CombineFn):
    """`(label, height, width)` -> count, per-label counts, size histograms."""

    def create_accumulator(self):
        return (
            0,
            collections.Counter(),
            collections.Counter(),
            collections.Counter(),
        )

    def add_input(self, accumulator, row):
        count, labels, heights, widths = accumulator
        label, height, width = row
        labels[label] += 1
        heights[size_bucket(height)] += 1
        widths[size_bucket(width)] += 1
        return count + 1, labels, heights, widths

    def merge_accumulators(self, accumulators):
        count, labels, heights, widths = self.create_accumulator()
        for part in accumulators:
            count += part[0]
            labels.update(part[1])
            heights.update(part[2])
            widths.update(part[3])
        return count, labels, heights, widths

    def extract_output(self, accumulator):
        count, labels, heights, widths = accumulator

        def ordered(counter):
            return {str(k): counter[k] for k in sorted(counter)}

        return {
            "num_examples": count,
            "labels": ordered(labels),
            "height": ordered(heights),
            "width": ordered(widths),
        }


class FingerprintFn(beam.CombineFn):
    """File metadata -> file count, total bytes and an order-free hash.

    Each file contributes sha256(relative path, size, mtime); the sum of
    these modulo 2**256 does not depend on the order files are listed in,
    and changes when any file is added, removed, resized or touched.
    """

    def __init__(self, root: str):
        super().__init__()
        self.root = root.rstrip("/") + "/"

    def create_accumulator(self):
        return 0, 0, 0

    def add_input(self, accumulator, metadata):
        count, size, digest = accumulator
        rel = metadata.path
        if rel.startswith(self.root):
            rel = rel[len(self.root) :]
        text = json.dumps(
            [rel, metadata.size_in_bytes, metadata.last_updated_in_seconds]
        )
        value = int(hashlib.sha256(text.encode()).hexdigest(), 16)
        return (
            count + 1,
            size + metadata.size_in_bytes,
            (digest + value) % (1 << 256),
        )

    def merge_accumulators(self, accumulators):
        count, size, digest = 0, 0, 0
        for part in accumulators:
            count, size = count + part[0], size + part[1]
            digest = (digest + part[2]) % (1 << 256)
        return count, size, digest

    def extract_output(self, accumulator):
        count, size, digest = accumulator
        return {
            "num_files": count,
            "total_bytes": size,
            "hash": f"{digest:064x}",
        }
