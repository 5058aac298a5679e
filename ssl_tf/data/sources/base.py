"""The one contract every data source follows.

A source is one module of this package holding one function

    @register_source("folder")
    def folder(data_config: DataConfig, split: str, arrays) -> Source:
        ...

The package imports every module it holds, so adding a source is adding one
file: `DataConfig.validate`, the CLI's `--source` choices and the README's
list read the registry (`ssl_tf.registry.SOURCES`).

A `Source` keeps reading apart from decoding. `records` are the elements
before decoding, in a fixed order (paths and labels, serialized
`tf.train.Example`s, raw TFDS examples, array rows); `decode` turns one
record into `{"images": uint8 (S, S, 3), "labels": int64}` (no `"labels"`
for unlabeled data). A source with random access also gives its records as
a `Table` of NumPy columns, so a pipeline can pick records by index and
decode only those: it gathers the rows, then the table turns them into
records (`Table.to_records`), e.g. cutting each file's path from one byte
buffer every row shares, held once rather than as a string a row. A
source read from files without random access (TFRecord, TFDS) gives them
as `Shards`, files of known length, so a reader can start at any record by
skipping whole files (`ssl_tf.data.windows`).

For crops from the full-resolution image (`DataConfig.crop_from`), a source
also gives `decode_original` (`original_decoder`): each image at its own
size, its longer side capped at `max_side(S)`, zero-padded into a fixed
`(max_side, max_side)` frame and returned with its `"sizes"` `(h, w)`.
The frame is fixed rather than the batch's largest image so an image's
crop is computed with the same numbers whatever shares its batch (exact
resume and topology-independent slices), and a batch's memory is known in
advance: `batch * max_side**2 * 3` bytes.
"""

from __future__ import annotations

import collections.abc
import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import tensorflow as tf

from ssl_tf import registry
from ssl_tf.data import images as image_io
from ssl_tf.data.errors import DataError  # noqa: F401 (re-exported)
from ssl_tf.data.memory import held


@dataclasses.dataclass(frozen=True)
class SourceInfo:
    """What a source holds.

    Args:
        num_examples: number of usable images.
        num_classes: number of labels, or None for unlabeled data.
        class_names: label names when known.
        description: human-readable origin, for logs and reports.
        scan: the bad-image scan, for folder and TFRecord sources.
        image_shape: an upper bound of every image's `(height, width)`
            (what `crops_original` needs), when known: from TFDS
            metadata or the arrays, or the largest height and width the
            scan of files or TFRecords read; else `None`.
    """

    num_examples: int
    num_classes: int | None
    class_names: tuple[str, ...] = ()
    description: str = ""
    scan: image_io.ScanReport | None = None
    image_shape: tuple[int, int] | None = None


class Table(collections.abc.Mapping):
    """A source's records as NumPy columns a pipeline gathers by row.

    Reading it as a mapping gives the columns (`table["label"]`).

    Args:
        columns: `{name: array (n, ...)}`, one row a record.
        shared: `{name: array}` every row reads whole (e.g. the bytes
            the rows' paths are cut from): held once, never gathered.
        to_records: `(rows, shared) -> records` in the graph, for rows
            gathered from `columns` (any leading shape) and the `shared`
            tensors; default: the rows are the records.
    """

    def __init__(self, columns, shared=None, to_records=None):
        self.columns = dict(columns)
        self.shared = dict(shared or {})
        self._to_records = to_records

    def __getitem__(self, key):
        return self.columns[key]

    def __iter__(self):
        return iter(self.columns)

    def __len__(self):
        return len(self.columns)

    @property
    def num_rows(self) -> int:
        return len(next(iter(self.columns.values())))

    def to_records(self, rows, shared) -> dict:
        """The records of gathered `rows`, given the `shared` tensors."""
        if self._to_records is None:
            return rows
        return self._to_records(rows, shared)

    def records(self) -> tf.data.Dataset:
        """The records in order, read from the variables `held` gives
        (the ones a pipeline on this host gathers from: no second copy)."""
        columns, shared = held(self.columns), held(self.shared)

        def chunk(rows):
            gathered = {k: tf.gather(v, rows) for k, v in columns.items()}
            return self.to_records(gathered, shared)

        batches = tf.data.Dataset.range(self.num_rows).batch(_RECORD_CHUNK)
        return batches.map(chunk).unbatch()


# Records `Table.records` reads at a time.
_RECORD_CHUNK = 256


@dataclasses.dataclass(frozen=True)
class Shards:
    """A source's records as files of known length, read one at a time.

    Args:
        read: a file's index (an int64 scalar tensor) -> the dataset of
            its records, in order; traceable (`flat_map` calls it).
        counts: the number of records `read` gives for each file.
    """

    read: Callable[[tf.Tensor], tf.data.Dataset]
    counts: np.ndarray

    @classmethod
    def single(cls, records: tf.data.Dataset, count: int) -> Shards:
        """`records` (of length `count`) as one file."""
        return cls(lambda index: records, np.array([count], np.int64))

    def records(self, order=None) -> tf.data.Dataset:
        """The records of the files in `order` (default: all, as stored)."""
        if order is None:
            order = np.arange(len(self.counts), dtype=np.int64)
        files = tf.data.Dataset.from_tensor_slices(np.asarray(order, np.int64))
        return files.flat_map(self.read)


@dataclasses.dataclass(frozen=True)
class Source:
    """An opened source: its records, their decoder and what it holds.

    Args:
        info: what the source holds.
        records: elements before decoding, in a fixed order.
        decode: one record -> `{"images": uint8 (S, S, 3)}` plus
            `"labels"` (int64) when labelled; pure TF ops.
        table: the records as a `Table` (or a mapping of NumPy columns,
            made a `Table`; `records` then reads the same rows in order)
            when the source has random access (folder, manifest, arrays);
            else `None`.
        decode_original: one record -> the full-resolution frame
            (`original_decoder`), or `None` if the source has none (its
            images are then always cropped from the square).
        shards: `records` as files of known length (`records` is
            `shards.records()`) when the source reads files without
            random access (TFRecord, TFDS); else `None`.
    """

    info: SourceInfo
    records: tf.data.Dataset
    decode: Callable[[Any], dict]
    table: Table | Mapping[str, np.ndarray] | None = None
    decode_original: Callable[[Any], dict] | None = None
    shards: Shards | None = None

    def __post_init__(self):
        if self.table is not None and not isinstance(self.table, Table):
            object.__setattr__(self, "table", Table(self.table))

    def dataset(self) -> tf.data.Dataset:
        """The decoded elements, in the order of `records`."""
        return self.records.map(
            self.decode, num_parallel_calls=tf.data.AUTOTUNE
        )


@dataclasses.dataclass(frozen=True)
class SourceKind:
    """A registered source: how to open it and whether a CLI can name it.

    Args:
        name: the registry key (`data.source`).
        open: `open(data_config, split, arrays) -> Source`.
        command_line: whether the source can be named on a command line
            (in-memory arrays cannot).
    """

    name: str
    open: Callable[..., Source]
    command_line: bool = True

    @property
    def summary(self) -> str:
        """The first line of the opener's docstring (for help and docs)."""
        return (self.open.__doc__ or "").strip().splitlines()[0]


def register_source(name: str, *, command_line: bool = True):
    """Registers `open(data_config, split, arrays) -> Source` as `name`.

    Args:
        name: the value of `data.source` that selects it.
        command_line: `False` for sources only Python callers can give.

    Raises:
        KeyError: if `name` is already registered.
    """

    def decorator(function):
        registry.SOURCES.register(
            name, SourceKind(name, function, command_line)
        )
        return function

    return decorator


def unregister_source(name: str) -> None:
    """Removes a source (for tests that register throwaways)."""
    registry.SOURCES.unregister(name)


def command_line_sources() -> list[str]:
    """The sources a command line can name, sorted."""
    return [
        name
        for name in registry.SOURCES.names()
        if registry.SOURCES.get(name).command_line
    ]


# Full-resolution images are capped at this many times `image_size` per
# side: the smallest default crop (8% of the area, a side of 0.28) of a
# 4 S image still spans 1.13 S pixels, so capping loses no detail a
# default crop can show, while a 6000x4000 scan costs 48 S**2 bytes (its
# frame: 2.4 MB at 224 px, 49 KB at 32 px) in a batch.
MAX_SIDE_FACTOR = 4


def max_side(image_size: int) -> int:
    """The longest side of a full-resolution image (`MAX_SIDE_FACTOR`)."""
    return MAX_SIDE_FACTOR * image_size


def original_decoder(decode, image_size):
    """`decode_original` from a source's `decode(record, max_side)`.

    `decode(record, max_side)` gives the image at its own size capped at
    `max_side` (`image_io.decode_image`'s `max_side`); the result holds it
    zero-padded at the top left of a `(max_side, max_side)` frame, plus
    `"sizes"`: its int32 `(height, width)`.
    """
    side = max_side(image_size)

    def decode_original(record):
        out = dict(decode(record, side))
        image = out["images"]
        out["sizes"] = tf.shape(image)[:2]
        framed = tf.image.pad_to_bounding_box(image, 0, 0, side, side)
        out["images"] = tf.ensure_shape(framed, (side, side, 3))
        return out

    return decode_original


def to_rgb_resized(image, image_size, max_side=None):
    """Any uint8-or-[0, 255] image (h, w[, c]) -> uint8 (S, S, 3).

    With `max_side`, the image keeps its size and aspect ratio unless a
    side exceeds `max_side` (`image_io.fit_within`): uint8 `(h, w, 3)`.
    """
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
    if max_side is not None:
        fitted = image_io.fit_within(tf.cast(image, tf.float32), max_side)
        return tf.cast(tf.clip_by_value(tf.round(fitted), 0, 255), tf.uint8)
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
