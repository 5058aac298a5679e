"""Export embeddings for TensorBoard's Embedding Projector.

Writes into one log directory what `tensorboard.plugins.projector` reads:
a checkpoint holding the embeddings as a variable, `metadata.tsv` (one
header row, then one row per point), `sprite.png` (the images in a square
grid) and `projector_config.pbtxt` tying them together. Open with
`tensorboard --logdir <log_dir>` and choose the Projector tab.
"""

from __future__ import annotations

import dataclasses
import math
import os

import numpy as np
import tensorflow as tf
from PIL import Image
from tensorboard.plugins import projector

from ssl_tf.evaluation import base

TENSOR_NAME = "embedding/.ATTRIBUTES/VARIABLE_VALUE"
METADATA_FILE = "metadata.tsv"
SPRITE_FILE = "sprite.png"
# The projector refuses sprite images larger than this on either side.
MAX_SPRITE_SIDE = 8192


def sprite_image(images, max_side: int = MAX_SPRITE_SIDE):
    """`(sprite, cell_side)`: images in a square grid, row-major.

    Cells are square; images are resized to fit the sprite in `max_side`.
    """
    images = np.asarray(images, np.uint8)
    if images.ndim == 3:
        images = images[..., None]
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    columns = math.ceil(math.sqrt(len(images)))
    cell = min(max(images.shape[1:3]), max_side // columns)
    if cell < 1:
        raise ValueError(
            f"{len(images)} images do not fit a {max_side}px sprite."
        )
    sprite = Image.new("RGB", (columns * cell, columns * cell))
    for index, image in enumerate(images):
        tile = Image.fromarray(image[..., :3]).resize((cell, cell))
        row, column = divmod(index, columns)
        sprite.paste(tile, (column * cell, row * cell))
    return sprite, cell


def _clean(text):
    return str(text).replace("\t", " ").replace("\n", " ")


def export_projector(
    log_dir: str,
    embeddings,
    labels=None,
    class_names=(),
    images=None,
) -> dict:
    """Writes the Embedding Projector files for `embeddings` to `log_dir`.

    Args:
        log_dir: Output directory (also the TensorBoard log directory).
        embeddings: `(n, d)` float embeddings.
        labels: `(n,)` integer labels, or `None`.
        class_names: Names indexed by label, for the `class` column.
        images: `(n, h, w[, c])` uint8 images for the sprite, or `None`.

    Returns:
        A dict of the written paths (`checkpoint`, `metadata`, `sprite`,
        `config`) and `num_points`.
    """
    embeddings = np.asarray(embeddings, np.float32)
    if embeddings.ndim != 2:
        raise ValueError(
            f"`embeddings` must be 2-D. Received shape {embeddings.shape}"
        )
    count = len(embeddings)
    for name, value in (("labels", labels), ("images", images)):
        if value is not None and len(value) != count:
            raise ValueError(
                f"`{name}` has {len(value)} rows but `embeddings` has {count}."
            )
    os.makedirs(log_dir, exist_ok=True)
    # The projector plugin reads tensors from a TF checkpoint, nothing else.
    checkpoint = tf.train.Checkpoint(embedding=tf.Variable(embeddings))
    checkpoint_path = checkpoint.save(os.path.join(log_dir, "embedding.ckpt"))
    config = projector.ProjectorConfig()
    info = config.embeddings.add()
    info.tensor_name = TENSOR_NAME
    paths = {"checkpoint": checkpoint_path, "num_points": count}
    if labels is not None:
        metadata_path = os.path.join(log_dir, METADATA_FILE)
        names = list(class_names or ())
        with open(metadata_path, "w") as handle:
            # With more than one column the projector expects a header row.
            handle.write("label\tclass\n")
            for label in np.asarray(labels).tolist():
                name = names[label] if 0 <= label < len(names) else label
                handle.write(f"{label}\t{_clean(name)}\n")
        info.metadata_path = METADATA_FILE
        paths["metadata"] = metadata_path
    if images is not None:
        sprite, cell = sprite_image(images)
        sprite_path = os.path.join(log_dir, SPRITE_FILE)
        sprite.save(sprite_path)
        info.sprite.image_path = SPRITE_FILE
        info.sprite.single_image_dim.extend([cell, cell])
        paths["sprite"] = sprite_path
    projector.visualize_embeddings(log_dir, config)
    paths["config"] = os.path.join(log_dir, "projector_config.pbtxt")
    return paths


@dataclasses.dataclass(frozen=True)
class ProjectorOptions(base.ProtocolOptions):
    """Options of the `projector` protocol (and the shared ones).

    Args:
        log_dir: TensorBoard log directory to write (required).
        max_examples: Integer, points exported.
        split: `"test"`, `"train"` or a split name.
        sprite: Boolean, also write the images as a sprite.
    """

    log_dir: str | None = None
    max_examples: int = 2000
    split: str = "test"
    sprite: bool = True


@base.register_protocol("projector", ProjectorOptions)
def projector_protocol(context, options) -> base.ProtocolResult:
    """Embeddings, labels and a sprite for TensorBoard's projector."""
    if not options.log_dir:
        raise ValueError("The projector protocol needs the `log_dir` option.")
    pool = context.features(options.split, options.max_examples)
    images = None
    if options.sprite:
        loaded = context.images(options.split, options.max_examples)
        base.check_aligned(loaded, pool, options.split)
        images = loaded[0]
    paths = export_projector(
        options.log_dir, pool.features, pool.labels, pool.class_names, images
    )
    return context.result(
        paths, base.sizes(points=pool), pool.description, pool.description
    )
