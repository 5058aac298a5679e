"""Image files listed by path (folders and manifests): scan, then decode.

Scanning and decoding are separate steps. `open_files` checks every listed
file once (`ssl_tf.data.scan.scan_files`, in parallel and cached), keeps the
usable ones as a table of paths and labels, and decodes in `tf.data` only
what a reader takes from that table. The scan also reads each image's size,
so `SourceInfo.image_shape` bounds them all.
"""

from __future__ import annotations

import dataclasses
import logging
import os

import numpy as np
import tensorflow as tf

from ssl_tf.data import images as image_io
from ssl_tf.data import scan
from ssl_tf.data.sources.base import Source, SourceInfo, original_decoder

logger = logging.getLogger("ssl_tf.data")


@dataclasses.dataclass(frozen=True)
class FileList:
    """Image files listed by a folder or a manifest.

    Args:
        paths: the listed files, in order (a path may repeat).
        labels: an integer label per path, or `None` (unlabeled).
        classes: class names, or `()` when labels are plain integers.
        where: the folder or manifest, for messages.
        kind: the source's name, for `SourceInfo.description`.
    """

    paths: list[str]
    labels: list[int] | None
    classes: tuple[str, ...]
    where: str
    kind: str


def open_files(files: FileList, image_size, allow_conversion=False) -> Source:
    """A `Source` over the usable files of a `FileList`.

    A path that does not exist (or is a broken symlink) is skipped with the
    reason "missing file"; everything else goes through the scan.

    Args:
        files: the listed files.
        image_size: every image is resized to this square size.
        allow_conversion: see `inspect_image_bytes`.

    Raises:
        NoUsableImagesError: if no listed file is usable.
    """
    paths, labels = files.paths, files.labels
    report = scan_listed(paths, allow_conversion=allow_conversion)
    image_io.require_usable(report, files.where)
    kept = kept_indices(paths, report.good)
    table = file_table(paths, labels, kept, report.needs_conversion)
    num_classes = len(files.classes) or None
    if labels is not None and not files.classes:  # integer labels
        num_classes = int(max(labels)) + 1
    info = SourceInfo(
        num_examples=len(kept),
        num_classes=num_classes,
        class_names=tuple(files.classes),
        description=f"{files.kind}:{files.where}",
        scan=report,
        # Known small images keep the square path (`crops_original`).
        image_shape=report.max_shape,
    )
    decode = file_decoder(image_size, "convert" in table)
    return Source(
        info=info,
        records=tf.data.Dataset.from_tensor_slices(table),
        decode=decode,
        table=table,
        decode_original=original_decoder(decode, image_size),
    )


def scan_listed(paths, **scan_options) -> image_io.ScanReport:
    """The scan of `paths`, with missing files skipped in listed order."""
    missing = [p for p in paths if not os.path.exists(p)]
    for path in missing:
        logger.warning("Skipping image %s: missing file", path)
    missing_set = set(missing)
    present = [p for p in paths if p not in missing_set]
    report = scan.scan_files(present, **scan_options)
    if not missing:
        return report
    # Back into input order, so the summary lists items as listed.
    position = {}
    for index, path in enumerate(paths):
        position.setdefault(path, index)
    skipped = [(p, "missing file") for p in missing] + list(report.skipped)
    skipped.sort(key=lambda item: position[item[0]])
    return dataclasses.replace(report, skipped=tuple(skipped))


def kept_indices(paths, good) -> list[int]:
    """Positions in `paths` of the usable ones (`good`, in input order).

    One pass pairs them, also when a manifest lists a path twice.
    """
    kept, remaining = [], iter(good)
    expected = next(remaining, None)
    for index, path in enumerate(paths):
        if path == expected:
            kept.append(index)
            expected = next(remaining, None)
    return kept


def file_table(paths, labels, kept, needs_conversion) -> dict:
    """NumPy columns `path` (+ `label`, + `convert`) of the kept files."""
    table = {"path": np.array([paths[i] for i in kept], dtype=object)}
    if labels is not None:
        table["label"] = np.array([labels[i] for i in kept], np.int64)
    if needs_conversion:
        convert = set(needs_conversion)
        table["convert"] = np.array([p in convert for p in table["path"]])
    return table


def file_decoder(image_size, convert):
    """`{"path", "label"?, "convert"?}` -> `{"images", "labels"?}`.

    Args:
        image_size: every image is resized to this square size.
        convert: whether records carry a `convert` flag (files only PIL
            reads correctly; re-encoded by PIL, slower and GIL-bound).

    The decoder's optional `max_side` keeps each image's own size
    (`image_io.decode_image`), for `original_decoder`.
    """

    def decode(record, max_side=None):
        data = tf.io.read_file(record["path"])
        if convert:
            data = tf.cond(
                record["convert"],
                lambda: _convert_in_graph(data),
                lambda: data,
            )
        out = {"images": image_io.decode_image(data, image_size, max_side)}
        if "label" in record:
            out["labels"] = record["label"]
        return out

    return decode


def _convert_in_graph(data):
    converted = tf.numpy_function(
        lambda raw: image_io.convert_to_rgb_png_bytes(bytes(raw)),
        [data],
        tf.string,
        stateful=False,
    )
    converted.set_shape([])
    return converted
