"""Image folders: class sub-folders are labels, a flat folder is unlabeled."""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from ssl_tf.data import images as image_io
from ssl_tf.data.paths import PathTable, PathTableBuilder
from ssl_tf.data.sources.base import DataError, Source, register_source
from ssl_tf.data.sources.files import FileList, open_files

SPLIT_NAMES = ("train", "test", "validation", "val", "eval")


@dataclasses.dataclass(frozen=True)
class FolderSplit:
    """The image files of one split, and their labels (`None`: unlabeled).

    Args:
        paths: the files, a `PathTable` (strings made when read).
        labels: int64 array, a label per file; `None` when unlabeled.
    """

    paths: PathTable
    labels: np.ndarray | None


@dataclasses.dataclass(frozen=True)
class ImageFolder:
    """An image folder as `list_image_folder` reads it.

    Args:
        root: the folder.
        splits: split name -> its files; `{"train": ...}` for a folder
            without split folders.
        class_names: the sorted class-folder names of all splits; label
            `i` is `class_names[i]` in every split.
        has_split_folders: whether `root` holds split folders.
    """

    root: str
    splits: dict[str, FolderSplit]
    class_names: tuple[str, ...]
    has_split_folders: bool

    def split(self, name: str) -> FolderSplit:
        """The files of split `name`; the whole folder without splits.

        Raises:
            DataError: if `root` has split folders but not `name`.
        """
        if not self.has_split_folders:
            return self.splits["train"]
        if name not in self.splits:
            raise DataError(
                f"Image folder {self.root!r} has no split folder {name!r}. "
                f"Available splits: {sorted(self.splits)}"
            )
        return self.splits[name]


def _subdirs(path):
    return sorted(
        e for e in os.listdir(path) if os.path.isdir(os.path.join(path, e))
    )


def _is_image(name):
    return name.lower().endswith(image_io.IMAGE_EXTENSIONS)


def _add_image_files(builder, directory, recursive):
    """Appends the image files in `directory` (and below it if
    `recursive`), sorted; returns how many.

    The order is `sorted(os.walk(directory))`'s, each folder's names
    sorted. Each folder's files are encoded as they are listed, so no list
    of all paths is ever held.
    """
    if not recursive:
        names = sorted(os.listdir(directory))
        part = builder.encode(
            os.path.join(directory, name)
            for name in names
            if _is_image(name) and os.path.isfile(os.path.join(directory, name))
        )
        builder.extend(part)
        return len(part[1])
    parts = []
    for current, _, files in os.walk(directory):
        names = sorted(name for name in files if _is_image(name))
        paths = (os.path.join(current, name) for name in names)
        parts.append((current, builder.encode(paths)))
    parts.sort(key=lambda item: item[0])
    for _, part in parts:
        builder.extend(part)
    return sum(len(lengths) for _, (_, lengths) in parts)


def _list_split(path, label_of):
    builder = PathTableBuilder(os.path.join(path, ""))
    classes = _subdirs(path)
    if not classes:  # a flat folder: unlabeled
        _add_image_files(builder, path, recursive=False)
        return FolderSplit(builder.build(), None)
    labels = []
    for name in classes:
        count = _add_image_files(builder, os.path.join(path, name), True)
        labels.append(np.full(count, label_of[name], np.int64))
    return FolderSplit(builder.build(), np.concatenate(labels))


def list_image_folder(root: str) -> ImageFolder:
    """Lists an image folder; one rule for the library and the components.

    `root` holds either split folders (`SPLIT_NAMES`: `root/<split>/...`)
    or one split's content. A split folder with class sub-folders is
    labelled: the classes are numbered over the sorted union of the class
    folders of all splits (so a class has the same label in every split,
    also when one split lacks a class), and its images are found
    recursively under each class folder. A split folder without
    sub-folders is unlabeled (its own images only). Image files are those
    with an `IMAGE_EXTENSIONS` suffix, in any case.

    Raises:
        DataError: if `root` is missing, or mixes split folders with
            other folders.
    """
    if not os.path.isdir(root):
        raise DataError(f"Image folder {root!r} does not exist.")
    top = _subdirs(root)
    split_dirs = [d for d in top if d in SPLIT_NAMES]
    if split_dirs and len(split_dirs) != len(top):
        raise DataError(
            f"{root!r} mixes split folders {split_dirs} with other folders "
            f"{sorted(set(top) - set(split_dirs))}; use only {SPLIT_NAMES}, "
            "or only class folders."
        )
    roots = {s: os.path.join(root, s) for s in split_dirs} or {"train": root}
    classes = sorted({c for path in roots.values() for c in _subdirs(path)})
    label_of = {name: index for index, name in enumerate(classes)}
    splits = {s: _list_split(path, label_of) for s, path in roots.items()}
    return ImageFolder(root, splits, tuple(classes), bool(split_dirs))


def open_folder(
    root, image_size, allow_conversion=False, split="train"
) -> Source:
    """Images of one split of `root`, listed by `list_image_folder`.

    Every file is checked once before training; unusable files are skipped
    and named in the log (see `ssl_tf.data.images`).

    Args:
        root: the image folder.
        image_size: every image is resized to this square size.
        allow_conversion: also accept BMPs that only PIL reads correctly;
            they are re-encoded in the pipeline (slower, GIL-bound).
        split: the split folder to read when `root` has split folders.

    Raises:
        DataError: if the folder or the split folder does not exist.
        NoUsableImagesError: if the split holds no usable image.
    """
    folder = list_image_folder(root)
    files = folder.split(split)
    where = os.path.join(root, split) if folder.has_split_folders else root
    classes = folder.class_names if files.labels is not None else ()
    listed = FileList(files.paths, files.labels, classes, where, "folder")
    return open_files(listed, image_size, allow_conversion)


@register_source("folder")
def folder_source(data_config, split, arrays=None) -> Source:
    """An image folder (`data.name`), or its split folder `<name>/<split>`."""
    return open_folder(data_config.name, data_config.image_size, split=split)
