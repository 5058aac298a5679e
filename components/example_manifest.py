"""Manifest input of `ImageExampleGen`: a CSV or JSON-lines list of images.

CSV: the header `path` or `path,label`; JSON lines: `{"path": ...,
"label": ...}`. Relative paths are read against the manifest's folder and
are the examples' relative paths (their keys). Integer labels are kept
(no class names); other labels are class names, numbered in sorted order.
Empty labels are -1 (unlabeled). The manifest is read inside Beam.
"""

from __future__ import annotations

import csv
import json
import os

import apache_beam as beam
import tensorflow as tf
from apache_beam.io import fileio

from components import example_inputs

_MANIFEST_SUFFIXES = (".csv", ".jsonl", ".json")


def plan_manifest(path: str) -> example_inputs.InputPlan:
    """Checks a manifest's header (its first line only).

    Raises:
        ValueError: if the file is missing or its header is wrong.
    """
    path = example_inputs.absolute(path)
    if not path.lower().endswith(_MANIFEST_SUFFIXES):
        raise ValueError(
            f"A manifest must end with {_MANIFEST_SUFFIXES}. Received: {path!r}"
        )
    if not tf.io.gfile.exists(path):
        raise ValueError(f"Manifest {path!r} does not exist.")
    with tf.io.gfile.GFile(path) as handle:
        first = handle.readline().lstrip("\ufeff").strip()
    if path.lower().endswith(".csv"):
        header = [f.strip().lower() for f in next(csv.reader([first]), [])]
        if header not in (["path"], ["path", "label"]):
            raise ValueError(
                f"CSV manifest {path!r} must start with the header `path` or "
                f"`path,label`. Received: {first!r}"
            )
    elif '"path"' not in first:
        raise ValueError(
            f"JSON-lines manifest {path!r} must give a `path` on each line. "
            f"Received: {first!r}"
        )
    return example_inputs.InputPlan(
        "manifest", path, ("train",), class_names=None, patterns=(path,)
    )


def _manifest_row(line: str, is_csv: bool) -> list[tuple[str, str]]:
    """`(path as written, raw label)` of one manifest line; [] if blank."""
    if not line.strip():
        return []
    if is_csv:
        fields = [f.strip() for f in next(csv.reader([line]))]
        return [(fields[0], fields[1] if len(fields) > 1 else "")]
    try:
        row = json.loads(line)
        label = row.get("label")
        return [(str(row["path"]), "" if label is None else str(label))]
    except (ValueError, KeyError, AttributeError):
        # Not a crash: the line itself is reported as a missing file.
        return [(line.strip(), "")]


def manifest_classes(raw_labels: list[str]) -> tuple[str, ...] | None:
    """Class names of a manifest's labels; None when they are integers."""
    names = sorted(set(raw_labels) - {""})
    try:
        [int(name) for name in names]
    except ValueError:
        return tuple(names)
    return None


def _resolve(path: str, folder: str) -> str:
    if "://" in path or os.path.isabs(path):
        return path
    if "://" in folder:  # normpath would fold `gs://` into `gs:/`
        return f"{folder.rstrip('/')}/{path}"
    return os.path.normpath(os.path.join(folder, path))


def manifest_item(joined, folder: str, classes) -> list[dict]:
    """A manifest row joined with its file's metadata, read."""
    path, grouped = joined
    rows, metadata = grouped["rows"], list(grouped["files"])
    items = []
    for written, raw in rows:
        if not metadata:
            items.append(
                {"path": path, "split": "train", "reason": "missing file"}
            )
            continue
        label = -1 if raw == "" else classes.index(raw) if classes else int(raw)
        readable = fileio.ReadableFile(metadata[0])
        items.append(
            example_inputs.read_item(readable, path, written, label, "train")
        )
    return items


class ListManifest(example_inputs.PlanTransform):
    """A manifest -> `{"rows": (resolved path, (path, label)), "files":
    FileMetadata of the files it names}`; a missing file is not matched."""

    def expand(self, pipeline):
        manifest = self.plan.root
        folder = os.path.dirname(manifest)
        is_csv = manifest.lower().endswith(".csv")
        rows = (
            pipeline
            | "Lines"
            >> beam.io.ReadFromText(manifest, skip_header_lines=is_csv)
            | "Rows" >> beam.FlatMap(_manifest_row, is_csv)
            | "Resolve" >> beam.Map(lambda row: (_resolve(row[0], folder), row))
        )
        files = (
            rows
            | "Paths" >> beam.Keys()
            # ALLOW: a missing file is a skipped item, not a failed job.
            | "Match" >> fileio.MatchAll(fileio.EmptyMatchTreatment.ALLOW)
        )
        return {"rows": rows, "files": files}


class ReadManifest(example_inputs.PlanTransform):
    """`ListManifest`'s rows and files -> `(items, class names)`.

    Rows are joined with the metadata of their files by path, so a
    missing file becomes a skipped item rather than an error.
    """

    def expand(self, listed):
        rows = listed["rows"]
        classes = (
            rows
            | "Labels" >> beam.Map(lambda keyed: keyed[1][1])
            | "Distinct" >> beam.Distinct()
            | "Classes"
            >> beam.CombineGlobally(beam.combiners.ToListCombineFn())
            | "Names" >> beam.Map(manifest_classes)
        )
        files = listed["files"] | "ByPath" >> beam.Map(lambda m: (m.path, m))
        items = (
            {"rows": rows, "files": files}
            | "Join" >> beam.CoGroupByKey()
            | "Reshuffle" >> beam.Reshuffle()
            | "Items"
            >> beam.FlatMap(
                manifest_item,
                os.path.dirname(self.plan.root),
                beam.pvalue.AsSingleton(classes),
            )
        )
        return items, classes
