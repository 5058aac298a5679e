"""TFDS datasets, read offline and streamed (nothing is materialized)."""

from __future__ import annotations

import logging
import os

import numpy as np
import tensorflow as tf

from ssl_tf.data.sources import base


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
        raise base.DataError(
            f"Unknown TFDS dataset {name!r}: {_short_tfds_error(error)}"
        ) from error
    finally:
        absl_logger.removeFilter(_not_variant_warning)
    if not prepared:
        root = os.fspath(builder.data_dir_root)
        raise base.DataError(
            f"TFDS dataset {name!r} is not prepared in {root} (searched "
            f"{os.fspath(builder.data_dir)}; data_dir from {origin}). Set "
            "TFDS_DATA_DIR or data.data_dir (`--data-dir` for `ssl-tf "
            "eval`) to a directory that holds it, or prepare it on a "
            f"machine with network access: tfds build {name} --data_dir "
            f"{root}"
        )
    return builder


def open_tfds(name, split, image_size, data_dir=None) -> base.Source:
    """A TFDS dataset by name and split, read offline: nothing is downloaded.

    Without network access a download would be retried for minutes and end
    in a traceback, so a dataset that is not prepared fails at once. The
    records are streamed from its files in their
    stored order, the image still encoded (`_split_shards`); the count
    comes from the dataset's metadata, so nothing is read before training.

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
        raise base.DataError(
            f"Dataset {name!r} has no split {split!r}. Available splits: "
            f"{sorted(splits.keys())}"
        ) from error
    features = builder.info.features
    if "image" not in features:
        raise base.DataError(f"TFDS dataset {name!r} has no 'image' feature.")
    label_feature = features["label"] if "label" in features else None

    image_feature = features["image"]
    shards, parse = _split_shards(builder, split)

    def decode(record, max_side=None):
        example = parse(record)
        image = image_feature.decode_example(example["image"])
        out = {"images": base.to_rgb_resized(image, image_size, max_side)}
        if label_feature is not None:
            out["labels"] = tf.cast(example["label"], tf.int64)
        return out

    info = base.SourceInfo(
        num_examples=num_examples,
        num_classes=getattr(label_feature, "num_classes", None),
        class_names=tuple(getattr(label_feature, "names", ()) or ()),
        description=f"tfds:{name}/{split}",
        image_shape=_image_shape(image_feature),
    )
    return base.Source(
        info=info,
        records=shards.records(),
        decode=decode,
        decode_original=base.original_decoder(decode, image_size),
        shards=shards,
    )


def _split_shards(builder, split):
    """`(Shards, parse)`: the split's files and how to parse a record.

    The records keep the encoded image (`parse` skips decoding it), so a
    reader can skip records without decoding them. TFRecord files are read
    directly, each file's length from the metadata: a shuffled reader
    then starts anywhere by skipping whole files (`ssl_tf.data.windows`).
    Other file formats are read through `builder.as_dataset`, as one
    file, already parsed.
    """
    import tensorflow_datasets as tfds  # imported by the builder already

    skip = {"image": tfds.decode.SkipDecoding()}
    info = builder.info
    if info.file_format == tfds.core.FileFormat.TFRECORD:
        paths = tf.constant(
            [os.fspath(p) for p in info.splits[split].filepaths]
        )
        counts = np.array(info.splits[split].shard_lengths, np.int64)
        shards = base.Shards(
            lambda index: tf.data.TFRecordDataset(paths[index]), counts
        )

        def parse(record):
            return info.features.deserialize_example(record, decoders=skip)

        return shards, parse
    records = builder.as_dataset(
        split=split, shuffle_files=False, decoders=skip
    )
    count = info.splits[split].num_examples
    return base.Shards.single(records, count), lambda example: example


def _image_shape(image_feature):
    """`(height, width)` if the metadata fixes it (CIFAR-10), else None."""
    height, width = tuple(image_feature.shape)[:2]
    return None if height is None or width is None else (height, width)


@base.register_source("tfds")
def tfds_source(data_config, split, arrays=None) -> base.Source:
    """A prepared TFDS dataset (`data.name`, e.g. `cifar10`), read offline."""
    return open_tfds(
        data_config.name, split, data_config.image_size, data_config.data_dir
    )
