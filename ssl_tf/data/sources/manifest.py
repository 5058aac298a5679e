"""Manifests: a CSV (`path[,label]`) or text file listing image paths."""

from __future__ import annotations

import csv
import os

import numpy as np

from ssl_tf.data.paths import PathTable
from ssl_tf.data.sources.base import DataError, Source, register_source
from ssl_tf.data.sources.files import FileList, open_files

_MAX_LINES_LISTED = 10


def _read_manifest(path):
    """`[(line number, path, label or None)]` and whether labels are given."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        lines = handle.read().splitlines()
    first = next((line for line in lines if line.strip()), "")
    header = [f.strip().lower() for f in next(csv.reader([first]), [])]
    if header[:1] != ["path"]:
        if path.lower().endswith(".csv"):
            raise DataError(
                f"CSV manifest {path!r} must start with the header `path` "
                f"or `path,label`. Received: {first!r}"
            )
        # Plain text: one path per line; commas belong to the file name.
        rows = [
            (number, line.strip(), None)
            for number, line in enumerate(lines, 1)
            if line.strip()
        ]
        return rows, False
    if header not in (["path"], ["path", "label"]):
        raise DataError(
            f"CSV manifest {path!r} must have the columns `path` or "
            f"`path,label`. Received: {first!r}"
        )
    has_labels = header == ["path", "label"]
    rows, bad = [], []
    start = lines.index(first) + 2  # line number of the first data row
    for number, fields in enumerate(csv.reader(lines[start - 1 :]), start):
        if not fields or not "".join(fields).strip():
            continue
        fields = [f.strip() for f in fields]
        if len(fields) != len(header) or not all(fields):
            bad.append(number)
            continue
        rows.append((number, fields[0], fields[1] if has_labels else None))
    if bad:
        raise DataError(
            f"Manifest {path!r}: line(s) {_list_lines(bad)} do not have the "
            f"{len(header)} non-empty column(s) {header}."
        )
    return rows, has_labels


def _list_lines(items):
    text = ", ".join(str(i) for i in items[:_MAX_LINES_LISTED])
    if len(items) > _MAX_LINES_LISTED:
        text += f" and {len(items) - _MAX_LINES_LISTED} more"
    return text


def _manifest_labels(raw_labels):
    """Integer labels as given, or class names indexed in sorted order."""
    try:
        labels = [int(label) for label in raw_labels]
    except ValueError:
        classes = tuple(sorted(set(raw_labels)))
        index = {name: i for i, name in enumerate(classes)}
        return [index[label] for label in raw_labels], classes
    if min(labels) < 0:
        raise DataError(
            f"Manifest labels must be >= 0. Received: label={min(labels)}"
        )
    return labels, ()


def open_manifest(
    path, image_size, allow_outside_root=False, allow_conversion=False
) -> Source:
    """Images listed in a manifest file, checked like a folder.

    The manifest is a CSV file with the header `path` or `path,label`
    (labels are integers, or class names that are indexed in sorted
    order), or a text file with one path per line. Relative paths are
    resolved against the manifest's directory, the dataset root. Listed
    files that are missing or unusable are skipped and named in the scan.

    Args:
        path: the manifest file.
        image_size: every image is resized to this square size.
        allow_outside_root: accept paths that resolve (following symlinks)
            outside the dataset root.
        allow_conversion: see `open_folder`.

    Raises:
        DataError: if the manifest is missing, malformed, empty, or lists
            paths outside the root (naming their lines).
        NoUsableImagesError: if no listed image is usable.
    """
    if not os.path.isfile(path):
        raise DataError(f"Manifest file {path!r} does not exist.")
    rows, has_labels = _read_manifest(path)
    if not rows:
        raise DataError(f"Manifest {path!r} lists no images.")
    base = os.path.dirname(os.path.abspath(path))
    root = os.path.realpath(base)
    paths, outside = [], []
    for number, entry, _ in rows:
        full = os.path.normpath(os.path.join(base, entry))
        resolved = os.path.realpath(full)
        if os.path.commonpath([root, resolved]) != root:
            outside.append(f"line {number} ({entry!r} -> {resolved!r})")
        paths.append(full)
    if outside and not allow_outside_root:
        raise DataError(
            f"Manifest {path!r} lists {len(outside)} path(s) outside its "
            f"dataset root {root!r}: {_list_lines(outside)}. Set "
            "`data.allow_outside_root=true` to accept them."
        )
    labels, classes = None, ()
    if has_labels:
        labels, classes = _manifest_labels([label for _, _, label in rows])
        labels = np.array(labels, np.int64)
    del rows
    listed = FileList(
        PathTable.from_paths(paths), labels, classes, path, "manifest"
    )
    del paths
    return open_files(listed, image_size, allow_conversion)


@register_source("manifest")
def manifest_source(data_config, split, arrays=None) -> Source:
    """A CSV or text manifest (`data.name`; `{split}` is replaced)."""
    # `replace`, not `format`: other braces may be part of the path.
    path = data_config.name.replace("{split}", split or "")
    return open_manifest(
        path,
        data_config.image_size,
        allow_outside_root=data_config.allow_outside_root,
    )
