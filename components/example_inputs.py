"""The inputs of `ImageExampleGen`, listed and read inside Beam.

Three inputs, each planned on the driver from directory names or a header
only (never a list of files), then listed and read by the Beam job:

- an image folder, by `ssl_tf.data.list_image_folder`'s rule:
  `<root>/<class>/.../<file>` (one split) or `<root>/<split>/<class>/...`
  when every sub-folder is a split name; classes are numbered over the
  sorted union of the class folders of all splits; a folder without
  sub-folders is unlabeled (its own files only). Listed with
  `fileio.MatchAll` and read with `fileio.ReadMatches`.
- a manifest (`components.example_manifest`) or a TFDS split
  (`components.example_tfds`).

Each read item is a dict `{"path", "rel", "label", "split", "data"}`
(`rel`: the path relative to the input's root, the stable part of the
key; `split`: the input split) or `{"path", "split", "reason"}` for a file
that cannot be read. The files' `FileMetadata` also come out, for the
input fingerprint.
"""

from __future__ import annotations

import dataclasses
import os

import apache_beam as beam
import tensorflow as tf
from apache_beam.io import fileio

import ssl_tf


@dataclasses.dataclass(frozen=True)
class InputPlan:
    """What the driver knows of an input before any file is read.

    Args:
        kind: "folder", "manifest" or "tfds".
        root: the folder, the manifest file, or the TFDS data_dir.
        splits: the input's split names; one split is hash-split.
        class_names: label `i` is `class_names[i]`; None: read from a
            manifest's labels by the job.
        labelled: split -> whether its files have class folders (folders).
        split_folders: whether a folder holds split folders.
        name: the TFDS dataset name.
        tfds_splits: split name -> TFDS split string.
        data_dir: the TFDS data_dir.
        patterns: what `ListInput` matches: the files the fingerprint
            hashes (a manifest adds the files it names).
    """

    kind: str
    root: str
    splits: tuple[str, ...]
    class_names: tuple[str, ...] | None = ()
    labelled: dict[str, bool] = dataclasses.field(default_factory=dict)
    split_folders: bool = False
    name: str = ""
    tfds_splits: dict[str, str] = dataclasses.field(default_factory=dict)
    data_dir: str = ""
    patterns: tuple[str, ...] = ()


def absolute(path: str) -> str:
    return path if "://" in path else os.path.abspath(path)


def _subdirs(path: str) -> list[str]:
    """Sub-folder names. Image names are not stat-ed: a flat folder of
    millions of images (or a bucket, one request per stat) stays cheap."""
    return sorted(
        name.rstrip("/")
        for name in tf.io.gfile.listdir(path)
        if name.endswith("/")
        or (
            not name.lower().endswith(ssl_tf.data.IMAGE_EXTENSIONS)
            and tf.io.gfile.isdir(os.path.join(path, name))
        )
    )


def plan_folder(root: str) -> InputPlan:
    """Splits and classes from the folder names, as the library lists them.

    Raises:
        ValueError: if `root` is missing, or mixes split and other folders.
    """
    root = absolute(root).rstrip("/")
    if not tf.io.gfile.isdir(root):
        raise ValueError(f"Image folder {root!r} does not exist.")
    top = _subdirs(root)
    split_dirs = [d for d in top if d in ssl_tf.data.SPLIT_NAMES]
    if split_dirs and len(split_dirs) != len(top):
        raise ValueError(
            f"{root!r} mixes split folders {split_dirs} with other folders "
            f"{sorted(set(top) - set(split_dirs))}; use only "
            f"{ssl_tf.data.SPLIT_NAMES}, or only class folders."
        )
    roots = {s: os.path.join(root, s) for s in split_dirs} or {"train": root}
    classes = {s: _subdirs(path) for s, path in roots.items()}
    return InputPlan(
        "folder",
        root,
        tuple(roots),
        tuple(sorted({c for names in classes.values() for c in names})),
        labelled={s: bool(names) for s, names in classes.items()},
        split_folders=bool(split_dirs),
        patterns=tuple(
            (roots[s] if split_dirs else root)
            # Labelled splits are read recursively under their class folders.
            + ("/**" if classes[s] else "/*")
            for s in roots
        ),
    )


def folder_item(readable, plan: InputPlan) -> list[dict]:
    """A matched file as an item; none when the folder rule leaves it out."""
    path = readable.metadata.path
    parts = path[len(plan.root) + 1 :].split("/")
    split = parts.pop(0) if plan.split_folders else "train"
    if not parts or split not in plan.labelled:
        return []  # a loose file beside the split folders
    if not parts[-1].lower().endswith(ssl_tf.data.IMAGE_EXTENSIONS):
        return []
    labelled = plan.labelled[split]
    if labelled != (len(parts) > 1):
        return []  # a loose file beside the class folders
    label = plan.class_names.index(parts[0]) if labelled else -1
    rel = "/".join([split, *parts] if plan.split_folders else parts)
    return [read_item(readable, path, rel, label, split)]


def read_item(readable, path, rel, label, split) -> dict:
    """Reads one file; a file that cannot be read becomes a skipped item."""
    try:
        data = readable.read()
    except Exception as error:  # any filesystem's error: a skipped file
        return {"path": path, "split": split, "reason": f"unreadable ({error})"}
    return {
        "path": path,
        "rel": rel,
        "label": label,
        "split": split,
        "data": data,
    }


class PlanTransform(beam.PTransform):
    """A transform configured by an `InputPlan` (`self.plan`)."""

    def __init__(self, plan: InputPlan):
        super().__init__()
        self.plan = plan


class ReadFolder(PlanTransform):
    """An image folder's matched files -> items, read by `ReadMatches`."""

    def expand(self, files):
        return (
            files
            # Reshuffle: spread the listing over workers before reading.
            | "Reshuffle" >> beam.Reshuffle()
            | "ReadMatches" >> fileio.ReadMatches()
            | "Items" >> beam.FlatMap(folder_item, self.plan)
        )


class ListInput(PlanTransform):
    """The input's `plan.patterns` -> `FileMetadata`, by `MatchAll`."""

    def expand(self, pipeline):
        return (
            pipeline
            | "Patterns" >> beam.Create(self.plan.patterns)
            | "Match" >> fileio.MatchAll()
        )
