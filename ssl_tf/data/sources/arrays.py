"""In-memory NumPy images, for Python callers (`arrays=(images, labels)`)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from ssl_tf.data.sources.base import (
    DataError,
    Source,
    SourceInfo,
    original_decoder,
    register_source,
    to_rgb_resized,
)


def open_arrays(images, labels=None, image_size=None) -> Source:
    """In-memory images `(n, h, w[, c])` (uint8 or [0, 255]) and labels.

    Raises:
        DataError: for an empty or wrongly shaped `images`, or a label
            count that differs from the image count.
    """
    images = np.asarray(images)
    if images.ndim not in (3, 4) or len(images) == 0:
        raise DataError(
            "`images` must be a non-empty array of shape (n, h, w) or "
            f"(n, h, w, c). Received shape {images.shape}"
        )
    size = image_size or images.shape[1]
    table = {"images": images}
    if labels is not None:
        labels = np.asarray(labels, np.int64)
        if len(labels) != len(images):
            raise DataError(
                f"{len(images)} images but {len(labels)} labels were given."
            )
        table["labels"] = labels

    def decode(element, max_side=None):
        element = dict(element)
        element["images"] = to_rgb_resized(element["images"], size, max_side)
        return element

    info = SourceInfo(
        num_examples=len(images),
        num_classes=int(labels.max()) + 1 if labels is not None else None,
        description=f"arrays{tuple(images.shape)}",
        image_shape=tuple(int(side) for side in images.shape[1:3]),
    )
    records = tf.data.Dataset.from_tensor_slices(table)
    return Source(
        info=info,
        records=records,
        decode=decode,
        table=table,
        decode_original=original_decoder(decode, size),
    )


@register_source("arrays", command_line=False)
def arrays_source(data_config, split, arrays=None) -> Source:
    """NumPy arrays passed as `arrays=(images, labels)` (Python only)."""
    if arrays is None:
        raise DataError(
            "`data.source='arrays'` needs the arrays: pass "
            "`arrays=(images, labels)`."
        )
    return open_arrays(*arrays, image_size=data_config.image_size)
