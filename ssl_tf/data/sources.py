"""Image sources: TFDS, image folders, manifests, TFRecords and NumPy arrays.

Every source yields unbatched `{"images": uint8 (S, S, 3)}` elements, plus
`"labels"` (int64) when the source has them, and reports what it holds in a
`SourceInfo`. Grayscale images are expanded to RGB and everything is resized
to `image_size`, so the rest of the pipeline sees one format.
"""

from __future__ import annotations

import csv
import dataclasses
import glob
import logging
import os

import numpy as np
import tensorflow as tf

from ssl_tf.data import images as image_io

logger = logging.getLogger("ssl_tf.data")


class DataError(ValueError):
    """A dataset, split or file cannot be used."""


@dataclasses.dataclass(frozen=True)
class SourceInfo:
    """What a source holds.

    Args:
        num_examples: number of usable images.
        num_classes: number of labels, or None for unlabeled data.
        class_names: label names when known.
        description: human-readable origin, for logs and reports.
        scan: the bad-image scan, for folder and TFRecord sources.
    """

    num_examples: int
    num_classes: int | None
    class_names: tuple[str, ...] = ()
    description: str = ""
    scan: image_io.ScanReport | None = None


def _to_rgb_resized(image, image_size):
    image = tf.convert_to_tensor(image)
    if image.shape.rank == 2:
        image = image[..., None]
    channels = tf.shape(image)[-1]
    image = tf.cond(
        channels == 1, lambda: tf.tile(image, [1, 1, 3]), lambda: image[..., :3]
    )
    image.set_shape([None, None, 3])
    if image.dtype != tf.uint8:
        image = tf.cast(tf.clip_by_value(image, 0, 255), tf.uint8)
    shape = tf.shape(image)
    same = tf.logical_and(shape[0] == image_size, shape[1] == image_size)

    def resize():
        resized = tf.image.resize(
            image, (image_size, image_size), antialias=True
        )
        return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)

    image = tf.cond(same, lambda: image, resize)
    image.set_shape([image_size, image_size, 3])
    return image


def _not_variant_warning(record):
    return not str(record.msg).startswith("Variant folder")


def _short_tfds_error(error):
    """The first line of a tfds error, and its "Did you mean" if any.

    tfds appends the list of every dataset it knows, hundreds of lines.
    """
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    kept = lines[:1] + [line for line in lines[1:] if "Did you mean" in line]
    return " ".join(kept) or type(error).__name__


def _prepared_tfds_builder(name, data_dir):
    """The TFDS builder of `name`; a `DataError` unless it is prepared."""
    import tensorflow_datasets as tfds  # heavy import, only when used

    origin = "data.data_dir"
    if not data_dir:
        data_dir = os.environ.get("TFDS_DATA_DIR") or None
        origin = "TFDS_DATA_DIR" if data_dir else "the TFDS default"
    # tfds warns of a missing version folder; the error below says so.
    absl_logger = logging.getLogger("absl")
    absl_logger.addFilter(_not_variant_warning)
    try:
        # try_gcs=False: never look for the dataset on Google Cloud Storage.
        builder = tfds.builder(name, data_dir=data_dir, try_gcs=False)
        prepared = builder.is_prepared()
    except Exception as error:  # tfds raises several types for bad names
        raise DataError(
            f"Unknown TFDS dataset {name!r}: {_short_tfds_error(error)}"
        ) from error
    finally:
        absl_logger.removeFilter(_not_variant_warning)
    if not prepared:
        root = os.fspath(builder.data_dir_root)
        raise DataError(
            f"TFDS dataset {name!r} is not prepared in {root} (searched "
            f"{os.fspath(builder.data_dir)}; data_dir from {origin}). Set "
            "TFDS_DATA_DIR or data.data_dir (`--data-dir` for `ssl-tf "
            "eval`) to a directory that holds it, or prepare it on a "
            f"machine with network access: tfds build {name} --data_dir "
            f"{root}"
        )
    return builder


def load_tfds(name, split, image_size, data_dir=None):
    """A TFDS dataset by name and split, read offline: nothing is downloaded.

    Without network access a download would be retried for minutes and end
    in a traceback, so a dataset that is not prepared fails at once.

    Args:
        name: TFDS name, optionally with config and version
            (`"cifar10"`, `"cifar10:3.0.2"`).
        split: the split, e.g. `"train"`.
        image_size: every image is resized to this square size.
        data_dir: directory of prepared datasets; defaults to
            `TFDS_DATA_DIR`, then to the TFDS default directory.

    Raises:
        DataError: if the name or split is unknown, or the dataset is not
            prepared in the directory searched (the one-line message names
            the directory and how to prepare the dataset).
    """
    builder = _prepared_tfds_builder(name, data_dir)
    splits = builder.info.splits
    try:
        num_examples = splits[split].num_examples
    except (KeyError, ValueError) as error:
        raise DataError(
            f"Dataset {name!r} has no split {split!r}. Available splits: "
            f"{sorted(splits.keys())}"
        ) from error
    features = builder.info.features
    image_key = "image" if "image" in features else None
    if image_key is None:
        raise DataError(f"TFDS dataset {name!r} has no 'image' feature.")
    label_feature = features["label"] if "label" in features else None
    dataset = builder.as_dataset(split=split, shuffle_files=False)

    def convert(example):
        out = {"images": _to_rgb_resized(example[image_key], image_size)}
        if label_feature is not None:
            out["labels"] = tf.cast(example["label"], tf.int64)
        return out

    info = SourceInfo(
        num_examples=num_examples,
        num_classes=getattr(label_feature, "num_classes", None),
        class_names=tuple(getattr(label_feature, "names", ()) or ()),
        description=f"tfds:{name}/{split}",
    )
    return dataset.map(convert, num_parallel_calls=tf.data.AUTOTUNE), info


def _list_folder(root):
    """(paths, labels, class names); labels are None for a flat folder."""
    if not os.path.isdir(root):
        raise DataError(f"Image folder {root!r} does not exist.")
    entries = sorted(os.listdir(root))
    classes = [e for e in entries if os.path.isdir(os.path.join(root, e))]
    if classes:
        paths, labels = [], []
        for index, name in enumerate(classes):
            for dirpath, _, files in sorted(os.walk(os.path.join(root, name))):
                for file in sorted(files):
                    if file.lower().endswith(image_io.IMAGE_EXTENSIONS):
                        paths.append(os.path.join(dirpath, file))
                        labels.append(index)
        return paths, labels, tuple(classes)
    paths = [
        os.path.join(root, e)
        for e in entries
        if e.lower().endswith(image_io.IMAGE_EXTENSIONS)
    ]
    return paths, None, ()


def load_folder(root, image_size, allow_conversion=False):
    """Images in `root`; class sub-folders become labels.

    Every file is checked once before training; unusable files are skipped
    and named in the log (see `ssl_tf.data.images`).

    Args:
        root: the image folder.
        image_size: every image is resized to this square size.
        allow_conversion: also accept BMPs that only PIL reads correctly;
            they are re-encoded in the pipeline (slower, GIL-bound).
    """
    paths, labels, classes = _list_folder(root)
    return _load_files(
        paths,
        labels,
        classes,
        where=root,
        description=f"folder:{root}",
        image_size=image_size,
        allow_conversion=allow_conversion,
    )


def _load_files(
    paths, labels, classes, where, description, image_size, allow_conversion
):
    """Scans `paths`, then decodes the usable ones in `tf.data`.

    Shared by folders and manifests. A path that does not exist (or is a
    broken symlink) is skipped with the reason "missing file"; everything
    else goes through the scan.
    """
    missing = [p for p in paths if not os.path.exists(p)]
    for path in missing:
        logger.warning("Skipping image %s: missing file", path)
    missing_set = set(missing)
    present = [p for p in paths if p not in missing_set]
    report = image_io.scan_files(present, allow_conversion=allow_conversion)
    if missing:
        # Back into input order, so the summary lists items as listed.
        position = {}
        for index, path in enumerate(paths):
            position.setdefault(path, index)
        skipped = [(p, "missing file") for p in missing] + list(report.skipped)
        skipped.sort(key=lambda item: position[item[0]])
        report = dataclasses.replace(report, skipped=tuple(skipped))
    image_io.require_usable(report, where)
    # `report.good` keeps input order, so one pass pairs it with the labels
    # (also when a manifest lists a path twice).
    kept, remaining = [], iter(report.good)
    expected = next(remaining, None)
    for index, path in enumerate(paths):
        if path == expected:
            kept.append(index)
            expected = next(remaining, None)
    good = [paths[i] for i in kept]
    convert = set(report.needs_conversion)
    elements = {"paths": good}
    if convert:
        elements["convert"] = [p in convert for p in good]
    if labels is not None:
        elements["labels"] = np.array([labels[i] for i in kept], np.int64)

    def read(element):
        data = tf.io.read_file(element["paths"])
        if convert:
            data = tf.cond(
                element["convert"],
                lambda: _convert_in_graph(data),
                lambda: data,
            )
        out = {"images": image_io.decode_image(data, image_size)}
        if "labels" in element:
            out["labels"] = element["labels"]
        return out

    dataset = tf.data.Dataset.from_tensor_slices(elements).map(
        read, num_parallel_calls=tf.data.AUTOTUNE
    )
    num_classes = len(classes) or None
    if labels is not None and not classes:  # integer labels
        num_classes = int(max(labels)) + 1
    info = SourceInfo(
        num_examples=len(good),
        num_classes=num_classes,
        class_names=tuple(classes),
        description=description,
        scan=report,
    )
    return dataset, info


def _convert_in_graph(data):
    converted = tf.numpy_function(
        lambda raw: image_io.convert_to_rgb_png_bytes(bytes(raw)),
        [data],
        tf.string,
        stateful=False,
    )
    converted.set_shape([])
    return converted


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


def load_manifest(
    path, image_size, allow_outside_root=False, allow_conversion=False
):
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
        allow_conversion: see `load_folder`.

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
    return _load_files(
        paths,
        labels,
        classes,
        where=path,
        description=f"manifest:{path}",
        image_size=image_size,
        allow_conversion=allow_conversion,
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


def load_tfrecord(pattern, image_size):
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

    def parse(record):
        example = tf.io.parse_single_example(record, spec)
        out = {"images": image_io.decode_image(example[image_key], image_size)}
        if label_key:
            out["labels"] = example[label_key]
        return out

    dataset = tf.data.Dataset.zip(
        (raw, tf.data.Dataset.from_tensor_slices(keep))
    ).filter(lambda record, ok: ok)
    dataset = dataset.map(
        lambda record, ok: parse(record), num_parallel_calls=tf.data.AUTOTUNE
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
    return dataset, info


def load_arrays(images, labels=None, image_size=None):
    """In-memory images `(n, h, w[, c])` (uint8 or [0, 255]) and labels."""
    images = np.asarray(images)
    if images.ndim not in (3, 4) or len(images) == 0:
        raise DataError(
            "`images` must be a non-empty array of shape (n, h, w) or "
            f"(n, h, w, c). Received shape {images.shape}"
        )
    size = image_size or images.shape[1]
    elements = {"images": images}
    if labels is not None:
        labels = np.asarray(labels, np.int64)
        if len(labels) != len(images):
            raise DataError(
                f"{len(images)} images but {len(labels)} labels were given."
            )
        elements["labels"] = labels
    dataset = tf.data.Dataset.from_tensor_slices(elements)

    def convert(element):
        element = dict(element)
        element["images"] = _to_rgb_resized(element["images"], size)
        return element

    info = SourceInfo(
        num_examples=len(images),
        num_classes=int(labels.max()) + 1 if labels is not None else None,
        description=f"arrays{tuple(images.shape)}",
    )
    return dataset.map(convert, num_parallel_calls=tf.data.AUTOTUNE), info


def load_source(data_config, split=None, arrays=None):
    """The source named by a `DataConfig`, for `split` (default: train)."""
    split = split or data_config.split
    size = data_config.image_size
    if data_config.source == "tfds":
        return load_tfds(data_config.name, split, size, data_config.data_dir)
    if data_config.source == "folder":
        root = data_config.name
        if split and os.path.isdir(os.path.join(root, split)):
            root = os.path.join(root, split)
        return load_folder(root, size)
    if data_config.source == "manifest":
        # `replace`, not `format`: other braces may be part of the path.
        manifest = data_config.name.replace("{split}", split or "")
        return load_manifest(
            manifest, size, allow_outside_root=data_config.allow_outside_root
        )
    if data_config.source == "tfrecord":
        pattern = data_config.name
        if "{split}" in pattern:
            pattern = pattern.format(split=split)
        return load_tfrecord(pattern, size)
    if data_config.source == "arrays":
        if arrays is None:
            raise DataError(
                "`data.source='arrays'` needs the arrays: pass "
                "`arrays=(images, labels)`."
            )
        return load_arrays(*arrays, image_size=size)
    raise DataError(f"Unknown data source {data_config.source!r}.")
