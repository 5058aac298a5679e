"""Image files listed by path (folders and manifests): scan, then decode.

Scanning and decoding are separate steps. `open_files` checks every listed
file once (`ssl_tf.data.file_scan.scan_table`, in parallel and cached),
keeps the usable ones as a table of paths and labels, and decodes in
`tf.data` only what a reader takes from that table. The paths stay one
byte buffer (`ssl_tf.data.paths.PathTable`) from listing to the pipeline:
a million files cost tens of megabytes, not a string each. The scan also
reads each image's size, so `SourceInfo.image_shape` bounds them all.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import tensorflow as tf

from ssl_tf.data import file_scan
from ssl_tf.data import images as image_io
from ssl_tf.data.paths import PathTable
from ssl_tf.data.sources.base import (
    Source,
    SourceInfo,
    Table,
    original_decoder,
)


@dataclasses.dataclass(frozen=True)
class FileList:
    """Image files listed by a folder or a manifest.

    Args:
        paths: the listed files, in order (a path may repeat).
        labels: int64 array, a label per path, or `None` (unlabeled).
        classes: class names, or `()` when labels are plain integers.
        where: the folder or manifest, for messages.
        kind: the source's name, for `SourceInfo.description`.
    """

    paths: PathTable
    labels: np.ndarray | None
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
    report, kept = file_scan.scan_table(
        files.paths, allow_conversion=allow_conversion, missing="missing file"
    )
    image_io.require_usable(report, files.where)
    labels = files.labels
    if labels is not None and not kept.all():
        labels = labels[kept]
    table = file_table(report.good, labels, report.needs_conversion)
    num_classes = len(files.classes) or None
    if labels is not None and not files.classes:  # integer labels
        num_classes = int(files.labels.max()) + 1
    info = SourceInfo(
        num_examples=len(report.good),
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
        records=table.records(),
        decode=decode,
        table=table,
        decode_original=original_decoder(decode, image_size),
    )


def file_table(paths: PathTable, labels, needs_conversion) -> Table:
    """The `Table` of the usable files: rows `start`, `length` (+ `label`,
    + `convert`) index one shared byte buffer, `paths`; its records are
    `{"path", "label"?, "convert"?}`.

    No string a file is held, in NumPy or TensorFlow: each gathered
    batch's paths are cut from the buffer in the graph.
    """
    columns = {"start": paths.starts, "length": paths.lengths}
    if labels is not None:
        # Held as int32 (half the memory), records carry int64 labels.
        columns["label"] = _narrow_labels(labels)
    if needs_conversion:
        convert = set(needs_conversion)
        columns["convert"] = np.array([p in convert for p in paths])
    shared = {"paths": _scalar_bytes(paths.blob)}
    prefix = os.fsencode(paths.prefix)

    def to_records(rows, shared):
        records = {k: v for k, v in rows.items() if k not in _PATH_COLUMNS}
        if "label" in records:
            records["label"] = tf.cast(records["label"], tf.int64)
        cut = tf.strings.substr(
            shared["paths"],
            tf.cast(rows["start"], tf.int64),
            tf.cast(rows["length"], tf.int64),
        )
        records["path"] = tf.strings.join([prefix, cut]) if prefix else cut
        return records

    return Table(columns, shared, to_records)


_PATH_COLUMNS = ("start", "length")


def _narrow_labels(labels):
    """int64 `labels` as int32 when they fit (they are cast back)."""
    if len(labels) and labels.max() < 2**31:
        return labels.astype(np.int32)
    return labels


def _scalar_bytes(blob):
    """`blob` (uint8) as a 0-d bytes array, which TF reads as one scalar
    string: a view where NumPy's item size allows it, else a copy."""
    if 0 < len(blob) < 2**31:
        return blob.view(f"S{len(blob)}").reshape(())
    return np.array(blob.tobytes(), object)


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
