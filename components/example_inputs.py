"""The inputs of `ImageExampleGen`, listed and read inside Beam.

Three inputs, each planned on the driver from directory names or a header
only (never a list of files), then listed and read by the Beam job:

- an image folder, by `ssl_tf.data.list_image_folder`'s rule:
  `<root>/<class>/.../<file>` (one split) or `<root>/<split>/<class>/...`
  when every sub-folder is a split name; classes are numbered over the
  sorted union of the class folders of all splits; a folder without
  sub-folders is unlabeled (its own files only). Listed with
  `fileio.MatchAll` and read with `fileio.ReadMatches`.
- a manifest: CSV with the header `path` or `path,label`, or JSON lines
  `{"path": ..., "label": ...}`. Relative paths are read against the
  manifest's folder. Integer labels are kept; other labels are class
  names, numbered in sorted order.
- a TFDS split (`name` + `split`, e.g. `train[:40]`), read offline from a
  `data_dir`; several comma-separated splits are kept as splits.

Each read item is a dict `{"path", "rel", "label", "split", "data"}`
(`rel`: the path relative to the input's root, the stable part of the
key; `split`: the input split) or `{"path", "split", "reason"}` for a file
that cannot be read. The files' `FileMetadata` also come out, for the
input fingerprint.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os

import apache_beam as beam
import tensorflow as tf
from apache_beam.io import fileio

import ssl_tf

_MANIFEST_SUFFIXES = (".csv", ".jsonl", ".json")


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


def _absolute(path: str) -> str:
    return path if "://" in path else os.path.abspath(path)


def _subdirs(path: str) -> list[str]:
    return sorted(
        name.rstrip("/")
        for name in tf.io.gfile.listdir(path)
        if tf.io.gfile.isdir(os.path.join(path, name))
    )


def plan_folder(root: str) -> InputPlan:
    """Splits and classes from the folder names, as the library lists them.

    Raises:
        ValueError: if `root` is missing, or mixes split and other folders.
    """
    root = _absolute(root).rstrip("/")
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
    )


def plan_manifest(path: str) -> InputPlan:
    """Checks a manifest's header (its first line only).

    Raises:
        ValueError: if the file is missing or its header is wrong.
    """
    path = _absolute(path)
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
    return InputPlan("manifest", path, ("train",), class_names=None)


def plan_tfds(name: str, split: str, data_dir: str) -> InputPlan:
    """Names the TFDS splits; checks the dataset is prepared in `data_dir`.

    Raises:
        ValueError: if the dataset is not in `data_dir`.
    """
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=data_dir or None)
    except Exception as error:  # tfds raises several types
        raise ValueError(f"TFDS dataset {name!r}: {error}") from error
    if not tf.io.gfile.exists(builder.data_dir):
        raise ValueError(
            f"TFDS dataset {name!r} is not prepared in {data_dir!r} "
            f"({builder.data_dir} is missing)."
        )
    parts = [s.strip() for s in split.split(",") if s.strip()]
    splits = {part.split("[")[0]: part for part in parts}
    features = builder.info.features
    label = features["label"] if "label" in features else None
    return InputPlan(
        "tfds",
        builder.data_dir,
        tuple(splits),
        tuple(getattr(label, "names", None) or ()),
        name=name,
        tfds_splits=splits,
        data_dir=data_dir,
    )


def _folder_patterns(plan: InputPlan) -> list[str]:
    patterns = []
    for split in plan.splits:
        where = (
            os.path.join(plan.root, split) if plan.split_folders else plan.root
        )
        # Labelled splits are read recursively under their class folders.
        patterns.append(where + ("/**" if plan.labelled[split] else "/*"))
    return patterns


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


class ListInput(beam.PTransform):
    """The input's files as `FileMetadata` (`{"files"}`), by `MatchAll`.

    The files are what the fingerprint hashes: a folder's matched files,
    a prepared TFDS dataset's files, or a manifest and the files it names
    (then also its rows, `{"rows"}`: `(resolved path, (path, label))`).
    """

    def __init__(self, plan: InputPlan):
        super().__init__()
        self.plan = plan

    def expand(self, pipeline):
        plan = self.plan
        patterns = [plan.root]  # a manifest
        if plan.kind == "folder":
            patterns = _folder_patterns(plan)
        elif plan.kind == "tfds":
            patterns = [plan.root + "/*"]
        files = (
            pipeline
            | "Patterns" >> beam.Create(patterns)
            | "Match" >> fileio.MatchAll()
        )
        if plan.kind != "manifest":
            return {"files": files}
        rows = pipeline | "Rows" >> _ManifestRows(plan.root)
        named = (
            rows
            | "Paths" >> beam.Keys()
            # ALLOW: a missing file is a skipped item, not a failed job.
            | "MatchRows" >> fileio.MatchAll(fileio.EmptyMatchTreatment.ALLOW)
        )
        return {"files": (files, named) | beam.Flatten(), "rows": rows}


class ReadFolder(beam.PTransform):
    """An image folder's matched files -> items, read by `ReadMatches`."""

    def __init__(self, plan: InputPlan):
        super().__init__()
        self.plan = plan

    def expand(self, files):
        return (
            files
            # Reshuffle: spread the listing over workers before reading.
            | "Reshuffle" >> beam.Reshuffle()
            | "ReadMatches" >> fileio.ReadMatches()
            | "Items" >> beam.FlatMap(folder_item, self.plan)
        )


def _manifest_row(line: str, is_csv: bool) -> list[tuple[str, str]]:
    """`(path as written, raw label)` of one manifest line; [] if blank."""
    if not line.strip():
        return []
    if is_csv:
        fields = [f.strip() for f in next(csv.reader([line]))]
        return [(fields[0], fields[1] if len(fields) > 1 else "")]
    row = json.loads(line)
    label = row.get("label")
    return [(str(row["path"]), "" if label is None else str(label))]


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
        items.append(read_item(readable, path, written, label, "train"))
    return items


class _ManifestRows(beam.PTransform):
    def __init__(self, manifest: str):
        super().__init__()
        self.manifest = manifest

    def expand(self, pipeline):
        folder = os.path.dirname(self.manifest)
        is_csv = self.manifest.lower().endswith(".csv")
        return (
            pipeline
            | "Lines"
            >> beam.io.ReadFromText(self.manifest, skip_header_lines=is_csv)
            | "Rows" >> beam.FlatMap(_manifest_row, is_csv)
            | "Resolve" >> beam.Map(lambda row: (_resolve(row[0], folder), row))
        )


class ReadManifest(beam.PTransform):
    """`ListInput`'s rows and files -> `(items, class names)`.

    Rows are joined with the metadata of their files by path, so a
    missing file becomes a skipped item rather than an error.
    """

    def __init__(self, plan: InputPlan):
        super().__init__()
        self.plan = plan

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


class TfdsReadFn(beam.DoFn):
    """Reads one part of a TFDS split, images still encoded."""

    def __init__(self, plan: InputPlan):
        super().__init__()
        self.plan = plan

    def process(self, part):
        import tensorflow_datasets as tfds

        split, tfds_split = part
        dataset = tfds.load(
            self.plan.name,
            split=tfds_split,
            data_dir=self.plan.data_dir or None,
            decoders={"image": tfds.decode.SkipDecoding()},
            download=False,
        )
        for index, example in enumerate(dataset.as_numpy_iterator()):
            name = example["id"].decode() if "id" in example else str(index)
            rel = f"{split}/{name}"
            yield {
                "path": f"tfds://{self.plan.name}/{rel}",
                "rel": rel,
                "label": int(example.get("label", -1)),
                "split": split,
                "data": example["image"],
            }


class ReadTfds(beam.PTransform):
    """TFDS splits -> items, each split read in `parts` parallel parts."""

    def __init__(self, plan: InputPlan, parts: int = 1):
        super().__init__()
        self.plan = plan
        self.parts = parts

    def expand(self, pipeline):
        import tensorflow_datasets as tfds

        parts = [
            (split, part)
            for split, tfds_split in self.plan.tfds_splits.items()
            for part in tfds.even_splits(tfds_split, self.parts)
        ]
        return (
            pipeline
            | "Parts" >> beam.Create(parts)
            | "Reshuffle" >> beam.Reshuffle()
            | "Read" >> beam.ParDo(TfdsReadFn(self.plan))
        )
