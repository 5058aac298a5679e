"""Image folders: class sub-folders are labels, a flat folder is unlabeled."""

from __future__ import annotations

import os

from ssl_tf.data import images as image_io
from ssl_tf.data.sources.base import DataError, Source, register_source
from ssl_tf.data.sources.files import open_files


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


def open_folder(root, image_size, allow_conversion=False) -> Source:
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
    return open_files(
        paths,
        labels,
        classes,
        where=root,
        description=f"folder:{root}",
        image_size=image_size,
        scan_options={"allow_conversion": allow_conversion},
    )


@register_source("folder")
def folder_source(data_config, split, arrays=None) -> Source:
    """An image folder (`data.name`); `<name>/<split>` when it exists."""
    root = data_config.name
    if split and os.path.isdir(os.path.join(root, split)):
        root = os.path.join(root, split)
    return open_folder(root, data_config.image_size)
