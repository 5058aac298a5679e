"""Tests for `ssl_tf.evaluation.neighbors`."""

import glob
import os
import shutil
import tempfile

import numpy as np
from PIL import Image

from ssl_tf.evaluation import neighbors
from ssl_tf.testing import TestCase, tiny_images


def _brute_force_pixel(train, queries, k):
    train = train.reshape(len(train), -1).astype(np.int64)
    result = []
    for query in queries.reshape(len(queries), -1).astype(np.int64):
        distances = np.sum((train - query) ** 2, axis=1)
        result.append(np.argsort(distances, kind="stable")[:k])
    return np.array(result)


def _cell_image(grid, row, column, size, scale=3, border=3, gap=12, k=2):
    """The image in a grid cell: column 0 is the query, then the pixel
    block's `k` cells, then the embedding block's."""
    cell = size * scale + 2 * border
    left = 0
    if column > 0:
        block, index = divmod(column - 1, k)
        left = cell + gap + block * (k * cell + gap) + index * cell
    top = row * cell + border
    inner = grid[top : top + size * scale, left + border :]
    return inner[:, : size * scale][::scale, ::scale]


class PixelNeighborsTest(TestCase):
    def test_matches_brute_force(self):
        train = tiny_images(53, size=6, seed=0)
        queries = tiny_images(5, size=6, seed=1)
        # A query's exact copy and a duplicated training image (a tie).
        train[10] = queries[2]
        train[30] = train[20]
        queries[4] = train[20]
        got = neighbors.nearest_neighbors_pixel(train, queries, 4, chunk_size=7)
        self.assertAllEqual(got, _brute_force_pixel(train, queries, 4))
        self.assertEqual(got[2, 0], 10)
        self.assertAllEqual(got[4, :2], [20, 30])

    def test_rejects_mismatched_shapes(self):
        with self.assertRaisesRegex(ValueError, "shape"):
            neighbors.nearest_neighbors_pixel(
                tiny_images(4, size=6), tiny_images(2, size=5), 1
            )


class EmbeddingNeighborsTest(TestCase):
    def test_matches_brute_force_cosine(self):
        rng = np.random.default_rng(0)
        train = rng.normal(size=(40, 5))
        queries = rng.normal(size=(6, 5))
        got = neighbors.nearest_neighbors_embedding(train, queries, 3)
        for row, query in enumerate(queries):
            cosine = (
                train
                @ query
                / (np.linalg.norm(train, axis=1) * np.linalg.norm(query))
            )
            self.assertAllEqual(got[row], np.argsort(-cosine)[:3])


class NeighborsReportTest(TestCase):
    def test_grid_fractions_and_summary(self):
        out = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, out, True)
        train_images = tiny_images(30, size=8, seed=0)
        train_labels = np.arange(30) % 3
        query_images = train_images[:4].copy()
        query_labels = train_labels[:4]
        # Embeddings that are the one-hot labels: every embedding neighbour
        # shares the query's class.
        train_x = np.eye(3)[train_labels] + 0.01
        query_x = np.eye(3)[query_labels]
        path = os.path.join(out, "grid.png")
        result = neighbors.neighbors_report(
            *(train_images, train_labels, train_x),
            *(query_images, query_labels, query_x),
            k=2,
            image_path=path,
            log_dir=out,
            scale=3,
        )
        self.assertEqual(result["embedding_same_class"], 1.0)
        # Each query is its own nearest pixel neighbour (same class).
        self.assertAllEqual(
            [row[0] for row in result["pixel_neighbors"]], [0, 1, 2, 3]
        )
        expected = neighbors.same_class_fraction(
            np.array(result["pixel_neighbors"]), train_labels, query_labels
        )
        self.assertEqual(result["pixel_same_class"], expected)
        # Same-class rows have equal cosine; stable order keeps the first
        # two training images of the query's class.
        self.assertEqual(
            result["embedding_neighbors"], [[0, 3], [1, 4], [2, 5], [0, 3]]
        )
        grid = np.asarray(Image.open(path))
        cell = 8 * 3 + 2 * 3
        self.assertEqual(grid.shape, (4 * cell, cell * 5 + 2 * 12, 3))
        # Each cell shows the image it names: query, pixel, embedding.
        for row in range(4):
            chosen = [
                row,
                *result["pixel_neighbors"][row],
                *result["embedding_neighbors"][row],
            ]
            for column, index in enumerate(chosen):
                self.assertAllEqual(
                    _cell_image(grid, row, column, 8), train_images[index]
                )
        # The first pixel neighbour of query 0 is itself: a green frame.
        self.assertAllEqual(grid[0, cell + 12 + 1], neighbors._GREEN)
        self.assertNotEmpty(glob.glob(os.path.join(out, "events*")))

    def test_red_frame_for_other_class(self):
        images = tiny_images(3, size=4, seed=0)
        grid = neighbors.neighbor_grid(
            (images[:1], [0]),
            (images, np.array([0, 1, 1])),
            (np.array([[1]]), np.array([[0]])),
            scale=1,
            border=1,
            gap=2,
        )
        pixels = np.asarray(grid)
        cell = 4 + 2
        self.assertAllEqual(pixels[0, cell + 2], neighbors._RED)
        self.assertAllEqual(pixels[0, 2 * cell + 4], neighbors._GREEN)
