"""TFRecords of `tf.train.Example` with encoded image bytes (+ int label).

The records are streamed: `tf.data.TFRecordDataset` over the matched files,
one file at a time, parsed and decoded in the graph, so no Python list of
records is ever held. The files and their lengths are the source's
`Shards`, so a shuffled reader starts at any record by skipping whole
files (`ssl_tf.data.windows`). Before training, one streamed pass
checks every image (`ssl_tf.data.images.inspect_image_bytes`) and counts the
usable records and the labels; records it rejects are filtered out by
their index, without decoding anything else. Its result is cached per file
by (path, size, mtime), like the file scan. The pass is skipped for a
checked `Examples` artifact (written by `components.ImportExamples`): its
`report.json` gives the counts and the class names, and one read of the
files' bytes (cached the same way) their lengths.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import glob
import json
import os

import numpy as np
import tensorflow as tf

from ssl_tf.data import images as image_io
from ssl_tf.data import scan
from ssl_tf.data.sources.base import (
    DataError,
    Shards,
    Source,
    SourceInfo,
    original_decoder,
    register_source,
)

# Under this many bytes of new files the scan runs in this process:
# starting a worker (which imports TensorFlow) costs seconds.
PARALLEL_SCAN_BYTES = 32 << 20
# Written next to `Split-<name>/` by `components.ImportExamples`.
EXAMPLES_REPORT_FILE = "report.json"
_SPLIT_PREFIX = "Split-"
_IMAGE_KEYS = ("image", "image/encoded", "image_raw")
_LABEL_KEYS = ("label", "image/class/label")


def _record_keys(files, pattern):
    """The image and label feature names, from the first record."""
    first = next(iter(tf.data.TFRecordDataset(files).take(1)), None)
    if first is None:
        raise DataError(f"TFRecord files {pattern!r} hold no records.")
    keys = set(tf.train.Example.FromString(first.numpy()).features.feature)
    image_key = next((k for k in _IMAGE_KEYS if k in keys), None)
    label_key = next((k for k in _LABEL_KEYS if k in keys), None)
    if image_key is None:
        raise DataError(
            f"TFRecord examples have no image bytes feature; looked for "
            f"{list(_IMAGE_KEYS)}, found {sorted(keys)}."
        )
    return image_key, label_key


def _parser(image_key, label_key):
    """Serialized example -> (image bytes, label or -1), in the graph."""
    spec = {image_key: tf.io.FixedLenFeature([], tf.string)}
    if label_key:
        spec[label_key] = tf.io.FixedLenFeature([], tf.int64)

    def parse(record):
        example = tf.io.parse_single_example(record, spec)
        label = example[label_key] if label_key else tf.constant(-1, tf.int64)
        return example[image_key], label

    return parse


def examples_report(files):
    """The `ImportExamples` report of `files` and their split, or None.

    `files` come from a checked `Examples` artifact when they all lie in
    one `<uri>/Split-<name>/` folder and `<uri>/report.json` counts that
    split.
    """
    folders = {os.path.dirname(os.path.abspath(f)) for f in files}
    if len(folders) != 1:
        return None
    folder = folders.pop()
    split = os.path.basename(folder)
    path = os.path.join(os.path.dirname(folder), EXAMPLES_REPORT_FILE)
    if not split.startswith(_SPLIT_PREFIX) or not os.path.isfile(path):
        return None
    with open(path) as handle:
        report = json.load(handle)
    split = split[len(_SPLIT_PREFIX) :]
    if split not in report.get("num_examples", {}):
        return None
    return report, split


def _scan_file(path, image_key, label_key):
    """One streamed pass over a file: its count, odd records, top label
    and the largest height and width of its usable images.

    Records that are not plain usable RGB are `[index, kind, reason]`.
    Runs in a worker process (`scan.ordered_map`): takes names, not a
    parser.
    """
    parse = _parser(image_key, label_key)
    count, odd, max_label, shapes = 0, [], -1, []
    chunks = tf.data.TFRecordDataset(path).map(parse).batch(scan.CHUNK_SIZE)
    for datas, labels in chunks.as_numpy_iterator():
        results = image_io.inspect_images(list(datas))
        for offset, (kind, reason, _) in enumerate(results):
            if kind or reason:
                odd.append([count + offset, kind, reason])
            if reason is None:
                max_label = max(max_label, int(labels[offset]))
        count += len(results)
        # One bound per chunk: a file's sizes are never all held.
        sizes = [size for _, reason, size in results if reason is None]
        if sizes:
            shapes.append(scan.max_shape(sizes))
    return {
        "count": count,
        "odd": odd,
        "max_label": max_label,
        "max_shape": scan.max_shape(shapes),
    }


def _scan_records(files, keys):
    """The checking pass: (report, keep flags per file, largest label).

    Each record's image is checked once, and each file's result is cached
    by (path, size, mtime) (`ssl_tf.data.scan`), so a restart reads no
    unchanged file again. Ids are `"<file>#<index>"`; only the odd records
    (skipped or converted) get theirs as strings, the usable ones are
    `RecordIds`. The report's `max_shape` bounds the files' bounds.
    """
    results = scan.per_file_cached(
        files, ["tfrecord", *keys], lambda new: _scan_new_files(new, keys)
    )
    odd_ids, odd_results, keep, max_label, shapes = [], [], [], -1, []
    for path, found in zip(files, results, strict=True):
        flags = np.ones(found["count"], bool)
        for index, kind, reason in found["odd"]:
            odd_ids.append(f"{path}#{index}")
            odd_results.append((kind, reason, None))
            flags[index] = reason is None
        keep.append(flags)
        if flags.any():
            shapes.append(found["max_shape"])
        max_label = max(max_label, found["max_label"])
    report = scan.report_of(odd_ids, odd_results)
    return (
        dataclasses.replace(
            report,
            good=RecordIds(files, keep),
            max_shape=scan.max_shape(shapes),
        ),
        keep,
        max_label,
    )


def _scan_new_files(keys_of, keys):
    """`{path: _scan_file result}` for `keys_of` (path -> its file key,
    stated once by the caller), one file a
    task in worker processes when they hold over `PARALLEL_SCAN_BYTES`:
    the main process then decodes no image, and the files are checked in
    parallel."""
    paths = list(keys_of)
    size = sum(key[0] for key in keys_of.values() if key)
    workers = scan.default_workers()
    if len(paths) < 2 or size < PARALLEL_SCAN_BYTES:
        workers = 1
    results = scan.ordered_map(
        _scan_file, ((path, *keys) for path in paths), workers
    )
    return dict(zip(paths, results, strict=True))


class RecordIds(collections.abc.Sequence):
    """The ids `"<file>#<index>"` of the usable records, made when read.

    A tuple of the strings would hold about 100 bytes a record (100 MB for
    a million); this holds 4 bytes a record.

    Args:
        files: the TFRecord files, in order.
        keep: per file, a bool array: whether each record is usable.
    """

    def __init__(self, files, keep):
        self.files = tuple(files)
        self.kept = [np.flatnonzero(flags).astype(np.int32) for flags in keep]
        self.starts = np.cumsum([0] + [len(k) for k in self.kept])

    def __len__(self):
        return int(self.starts[-1])

    def __getitem__(self, position):
        if isinstance(position, slice):
            return tuple(self[i] for i in range(*position.indices(len(self))))
        if not -len(self) <= position < len(self):
            raise IndexError(f"record {position} of {len(self)}")
        position %= len(self)
        file = int(np.searchsorted(self.starts, position, side="right")) - 1
        index = self.kept[file][position - self.starts[file]]
        return f"{self.files[file]}#{index}"

    def __eq__(self, other):
        if isinstance(other, RecordIds):
            return self.files == other.files and all(
                np.array_equal(a, b)
                for a, b in zip(self.kept, other.kept, strict=True)
            )
        if isinstance(other, collections.abc.Sequence):
            return len(self) == len(other) and all(
                a == b for a, b in zip(self, other, strict=True)
            )
        return NotImplemented

    def __hash__(self):
        return hash((self.files, len(self)))


def _shards(files, keep, counts) -> Shards:
    """The files as `Shards`, read in order, one at a time.

    `keep` (one bool array per file, or None to keep all) drops records by
    their index in the files, before anything is parsed; `counts` are the
    records each file keeps.
    """
    paths = tf.constant(files)
    if keep is None:
        return Shards(
            lambda index: tf.data.TFRecordDataset(paths[index]),
            np.asarray(counts, np.int64),
        )
    flags = tf.constant(np.concatenate(keep))
    offsets = tf.constant(
        np.cumsum([0] + [len(k) for k in keep[:-1]]), tf.int64
    )

    def read(index):
        return (
            tf.data.TFRecordDataset(paths[index])
            .enumerate(start=offsets[index])
            .filter(lambda number, record: flags[number])
            .map(lambda number, record: record)
        )

    return Shards(read, np.asarray(counts, np.int64))


def _record_counts(files):
    """The number of records of each file: one read of its bytes (nothing
    parsed), cached by (path, size, mtime) like the scan."""
    results = scan.per_file_cached(
        files,
        ["tfrecord-count"],
        lambda new: {path: {"count": _count(path)} for path in new},
    )
    return [found["count"] for found in results]


def _count(path) -> int:
    return int(tf.data.TFRecordDataset(path).reduce(0, lambda n, _: n + 1))


def _reported_info(report, split, label_key, description, counts):
    """The `SourceInfo` of a checked `Examples` split, from its report.

    Raises:
        DataError: if the files hold another number of records than the
            report counts (they changed since the report was written).
    """
    classes = tuple(report.get("class_names", ()))
    reported = int(report["num_examples"][split])
    if sum(counts) != reported:
        raise DataError(
            f"{description}: the files hold {sum(counts)} records, but "
            f"their Examples report counts {reported}; the files changed "
            "after the report was written. Import them again."
        )
    return SourceInfo(
        num_examples=reported,
        num_classes=(len(classes) or None) if label_key else None,
        class_names=classes,
        description=description,
    )


def _scanned_info(files, keys, pattern, description):
    """`(SourceInfo, keep flags or None, usable records a file)` from the
    checking pass."""
    report, keep, max_label = _scan_records(files, keys)
    image_io.require_usable(report, pattern)
    info = SourceInfo(
        num_examples=len(report.good),
        num_classes=max_label + 1 if keys[1] else None,
        description=description,
        scan=report,
        image_shape=report.max_shape,
    )
    counts = [int(flags.sum()) for flags in keep]
    return info, None if all(k.all() for k in keep) else keep, counts


def open_tfrecord(pattern, image_size) -> Source:
    """`tf.train.Example` records with encoded image bytes (+ int label).

    The example count comes from the checking pass (one streamed read of
    every record, each image inspected once), or from the `report.json` of
    a checked `Examples` artifact when the files are one of its splits
    (then nothing is read before training).

    Args:
        pattern: glob of the TFRecord files (read in sorted order).
        image_size: every image is resized to this square size.

    Raises:
        DataError: if no file matches, the files hold no record, or the
            examples have no image feature.
        NoUsableImagesError: if no record holds a usable image.
    """
    files = sorted(glob.glob(pattern))
    if not files:
        raise DataError(f"No TFRecord files match {pattern!r}.")
    image_key, label_key = _record_keys(files, pattern)
    parse = _parser(image_key, label_key)
    description = f"tfrecord:{pattern}"
    checked = examples_report(files)
    if checked:
        keep, counts = None, _record_counts(files)
        info = _reported_info(*checked, label_key, description, counts)
    else:
        keys = [image_key, label_key]
        info, keep, counts = _scanned_info(files, keys, pattern, description)
    shards = _shards(files, keep, counts)

    def decode(record, max_side=None):
        data, label = parse(record)
        out = {"images": image_io.decode_image(data, image_size, max_side)}
        if label_key:
            out["labels"] = label
        return out

    return Source(
        info=info,
        records=shards.records(),
        decode=decode,
        decode_original=original_decoder(decode, image_size),
        shards=shards,
    )


@register_source("tfrecord")
def tfrecord_source(data_config, split, arrays=None) -> Source:
    """TFRecord files matching `data.name` (`{split}` is replaced)."""
    pattern = data_config.name
    if "{split}" in pattern:
        pattern = pattern.format(split=split)
    return open_tfrecord(pattern, data_config.image_size)
