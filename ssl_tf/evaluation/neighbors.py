"""Nearest training images of query images, in pixel and embedding space.

A qualitative check of what an embedding has learned: pixel-space
neighbours (L2 on raw pixels) match colour and layout, embedding-space
neighbours (cosine) should match the object class. The grid shows both
side by side with each neighbour framed green (same class as the query) or
red, and the same-class fraction of each space summarises it in a number.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import tensorflow as tf
from PIL import Image, ImageDraw

from ssl_tf.evaluation import base, report
from ssl_tf.evaluation.knn import l2_normalize

_GREEN = (0, 170, 0)
_RED = (220, 0, 0)
_GRAY = (128, 128, 128)
_BACKGROUND = (255, 255, 255)


def _merge_top_k(best_d, best_i, chunk_d, chunk_i, k):
    distances = np.concatenate([best_d, chunk_d], axis=1)
    indices = np.concatenate([best_i, chunk_i], axis=1)
    # Stable: among equal distances the earlier (lower) index stays first.
    order = np.argsort(distances, axis=1, kind="stable")[:, :k]
    return (
        np.take_along_axis(distances, order, axis=1),
        np.take_along_axis(indices, order, axis=1),
    )


def nearest_neighbors_pixel(
    train_images, queries, k: int, chunk_size: int = 2048
) -> np.ndarray:
    """Indices `(n_queries, k)` of the nearest training images in pixels.

    Squared L2 distance between flattened float64 pixels, nearest first;
    equal distances are ordered by index. Training images are processed
    in chunks, so the whole set is never converted to floats at once.

    Args:
        train_images: `(n, h, w, c)` images.
        queries: `(q, h, w, c)` images of the same shape.
        k: Integer, neighbours per query (at most `n`).
        chunk_size: Integer, training images per distance matrix.

    Returns:
        An int64 array of indices into `train_images`.
    """
    train_images = np.asarray(train_images)
    queries = np.asarray(queries)
    if train_images.shape[1:] != queries.shape[1:]:
        raise ValueError(
            "`queries` must have the shape of the training images. Received: "
            f"{queries.shape[1:]} and {train_images.shape[1:]}"
        )
    k = min(k, len(train_images))
    flat_queries = queries.reshape(len(queries), -1).astype(np.float64)
    query_norms = np.sum(flat_queries**2, axis=1, keepdims=True)
    best_d = np.full((len(queries), 0), np.inf)
    best_i = np.zeros((len(queries), 0), np.int64)
    for start in range(0, len(train_images), chunk_size):
        chunk = train_images[start : start + chunk_size]
        chunk = chunk.reshape(len(chunk), -1).astype(np.float64)
        # |q - t|^2 expanded; exact for uint8 pixels in float64.
        distances = (
            query_norms
            - 2.0 * flat_queries @ chunk.T
            + np.sum(chunk**2, axis=1)[None, :]
        )
        indices = np.broadcast_to(
            np.arange(start, start + len(chunk)), distances.shape
        )
        best_d, best_i = _merge_top_k(best_d, best_i, distances, indices, k)
    return best_i


def nearest_neighbors_embedding(train_x, query_x, k: int) -> np.ndarray:
    """Indices `(n_queries, k)` of the most cosine-similar training rows."""
    similarity = l2_normalize(query_x) @ l2_normalize(train_x).T
    k = min(k, similarity.shape[1])
    return np.argsort(-similarity, axis=1, kind="stable")[:, :k]


def same_class_fraction(neighbor_idx, train_labels, query_labels) -> float:
    """Fraction of neighbours whose label equals their query's label."""
    neighbor_labels = np.asarray(train_labels)[neighbor_idx]
    return float(np.mean(neighbor_labels == np.asarray(query_labels)[:, None]))


def _cell(image, color, scale, border):
    image = Image.fromarray(np.asarray(image, np.uint8).squeeze())
    image = image.convert("RGB")
    size = (image.width * scale, image.height * scale)
    image = image.resize(size, Image.NEAREST)
    framed = Image.new(
        "RGB", (size[0] + 2 * border, size[1] + 2 * border), color
    )
    framed.paste(image, (border, border))
    return framed


def neighbor_grid(
    queries, train, blocks, scale: int = 3, border: int = 3, gap: int = 12
) -> Image.Image:
    """The neighbour picture: one row per query.

    Each row is the query (gray frame), then one block of neighbours per
    entry of `blocks` (pixel space, then embedding space); neighbours are
    framed green when they share the query's class and red otherwise.

    Args:
        queries: `(images, labels)` of the queries.
        train: `(images, labels)` the neighbour indices point into.
        blocks: `(pixel_idx, embedding_idx)`, `(n_queries, k)` arrays.
        scale: Integer upscaling of each image.
        border: Integer frame width in pixels.
        gap: Integer space between the blocks in pixels.

    Returns:
        A `PIL.Image.Image` in RGB.
    """
    (query_images, query_labels), (train_images, train_labels) = queries, train
    pixel_idx, embedding_idx = blocks
    k = pixel_idx.shape[1]
    cell_h = train_images.shape[1] * scale + 2 * border
    cell_w = train_images.shape[2] * scale + 2 * border
    width = cell_w * (1 + 2 * k) + 2 * gap
    grid = Image.new("RGB", (width, cell_h * len(query_images)), _BACKGROUND)
    rows = zip(query_images, query_labels, strict=True)
    for row, (query, label) in enumerate(rows):
        top = row * cell_h
        grid.paste(_cell(query, _GRAY, scale, border), (0, top))
        for block, indices in enumerate((pixel_idx[row], embedding_idx[row])):
            left = cell_w + gap + block * (k * cell_w + gap)
            for column, index in enumerate(indices):
                color = _GREEN if train_labels[index] == label else _RED
                cell = _cell(train_images[index], color, scale, border)
                grid.paste(cell, (left + column * cell_w, top))
    # A thin separator makes the two blocks easy to tell apart.
    draw = ImageDraw.Draw(grid)
    middle = cell_w + gap + k * cell_w + gap // 2
    draw.line([(middle, 0), (middle, grid.height)], fill=_GRAY, width=1)
    return grid


def neighbors_report(
    train_images,
    train_labels,
    train_x,
    query_images,
    query_labels,
    query_x,
    k: int = 8,
    image_path: str | None = None,
    log_dir: str | None = None,
    scale: int = 3,
) -> dict:
    """Neighbours in both spaces, the grid picture and same-class fractions.

    Args:
        train_images, train_labels, train_x: The searched set: uint8 images,
            labels and embeddings, row-aligned.
        query_images, query_labels, query_x: The queries, row-aligned.
        k: Integer, neighbours per query in each space.
        image_path: Where to write the PNG grid, or `None`.
        log_dir: TensorBoard directory for an image summary
            `nearest_neighbors`, or `None`.
        scale: Integer upscaling of each image in the grid.

    Returns:
        A dict with `pixel_same_class`, `embedding_same_class`,
        `pixel_neighbors`, `embedding_neighbors` (index lists) and
        `image_path`.
    """
    pixel_idx = nearest_neighbors_pixel(train_images, query_images, k)
    embedding_idx = nearest_neighbors_embedding(train_x, query_x, k)
    train_labels = np.asarray(train_labels)
    grid = neighbor_grid(
        (query_images, query_labels),
        (train_images, train_labels),
        (pixel_idx, embedding_idx),
        scale=scale,
    )
    if image_path:
        os.makedirs(os.path.dirname(os.path.abspath(image_path)), exist_ok=True)
        grid.save(image_path)
    if log_dir:
        writer = tf.summary.create_file_writer(log_dir)
        with writer.as_default():
            tf.summary.image(
                "nearest_neighbors", np.asarray(grid)[None], step=0
            )
        writer.flush()
    return {
        "pixel_same_class": same_class_fraction(
            pixel_idx, train_labels, query_labels
        ),
        "embedding_same_class": same_class_fraction(
            embedding_idx, train_labels, query_labels
        ),
        "pixel_neighbors": pixel_idx.tolist(),
        "embedding_neighbors": embedding_idx.tolist(),
        "image_path": image_path,
    }


@dataclasses.dataclass(frozen=True)
class NeighborsOptions(base.ProtocolOptions):
    """Options of the `neighbors` protocol (and the shared ones).

    Args:
        k: Integer, neighbours per query in each space.
        num_queries: Integer, seeded test images used as queries.
        scale: Integer upscaling of each image in the grid.
        image_path: Where to write the PNG (default: the result path with
            `.png`).
        log_dir: TensorBoard directory for the grid image, or `None`.
    """

    k: int = 8
    num_queries: int = 10
    scale: int = 3
    image_path: str | None = None
    log_dir: str | None = None


@base.register_protocol("neighbors", NeighborsOptions)
def neighbors(context, options) -> base.ProtocolResult:
    """Nearest training images of test queries, in pixels and embedding."""
    train = context.features("train")
    train_images = context.images("train", options.max_train_examples)
    base.check_aligned(train_images, train, "train")
    test_images, test_labels = context.images("test", options.max_test_examples)
    rng = np.random.default_rng(options.seed)
    count = min(options.num_queries, len(test_labels))
    chosen = np.sort(rng.choice(len(test_labels), count, replace=False))
    image_path = options.image_path
    if image_path is None and context.output_path:
        image_path = report.companion_path(context.output_path, ".png")
    queries = test_images[chosen]
    metrics = neighbors_report(
        *(train_images[0], train.labels, train.features),
        *(queries, test_labels[chosen], context.encoder.embed(queries)),
        k=options.k,
        image_path=image_path,
        log_dir=options.log_dir,
        scale=options.scale,
    )
    metrics["query_indices"] = chosen.tolist()
    sizes = {"train": len(train.labels), "queries": count}
    return context.result(metrics, sizes, train.description, "")
