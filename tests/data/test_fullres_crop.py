"""The random resized crop is cut from the full-resolution image.

Under `data.crop_from="original"` (the default) a source's images reach the
views at their own size, framed with their `sizes`; each crop box is drawn
in its image's aspect ratio and cut from the original pixels. Checked
against a NumPy reference of `crop_and_resize` on the box.
"""

import hashlib
import os

import numpy as np
import pytest
import tensorflow as tf
from absl.testing import parameterized

from ssl_tf import augment, data, methods
from ssl_tf.config import DataConfig
from ssl_tf.testing import TestCase, smoke_config, write_image_folder

SIZE = 16  # image_size; the frame is 4 * SIZE = 64
SHARED_TFDS = os.path.join(
    os.path.dirname(__file__), "..", "..", "..", "shared", "tfds"
)


def crop_reference(image, box, size=SIZE):
    """`crop_and_resize` of `box` on `image` (h, w, c), in float64 NumPy.

    Output pixel `i` samples `y1 * (h - 1) + i * (y2 - y1) * (h - 1) /
    (size - 1)` (likewise x) bilinearly, as TensorFlow documents.
    """
    image = np.asarray(image, np.float64)
    h, w = image.shape[:2]
    y1, x1, y2, x2 = np.asarray(box, np.float64)
    steps = np.arange(size) / (size - 1)
    ys = (y1 + steps * (y2 - y1)) * (h - 1)
    xs = (x1 + steps * (x2 - x1)) * (w - 1)

    def taps(positions, n):
        low = np.floor(positions).astype(int)
        return low, np.minimum(low + 1, n - 1), positions - low

    y_low, y_high, fy = taps(ys, h)
    x_low, x_high, fx = taps(xs, w)
    rows = (
        image[y_low] * (1 - fy)[:, None, None]
        + image[y_high] * fy[:, None, None]
    )
    return (
        rows[:, x_low] * (1 - fx)[None, :, None]
        + rows[:, x_high] * fx[None, :, None]
    )


def crop_only(scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), colour=False):
    """`SimCLRAugment` with the crop (and, if `colour`, jitter and grey)."""
    off = {"jitter_strength": 0.0, "grayscale_prob": 0.0}
    return augment.SimCLRAugment(
        SIZE,
        crop_scale=scale,
        crop_ratio=ratio,
        flip=colour,
        blur=False,
        **({} if colour else off),
    )


def raw_batch(images, crop_from, batch_size):
    """The pipeline's first raw batch of `images` (n, h, w, 3)."""
    source = data.sources.open_arrays(images, image_size=SIZE)
    config = DataConfig(image_size=SIZE, crop_from=crop_from, cache=False)
    dataset = data.pretrain_dataset(source, config, batch_size=batch_size)
    return next(iter(dataset))


def stripes(height, width):
    """uint8 vertical stripes two pixels wide: 255, 255, 0, 0, ..."""
    row = np.where((np.arange(width) // 2) % 2 == 0, 255, 0)
    return np.broadcast_to(row[None, :, None], (height, width, 3)).astype(
        np.uint8
    )


class FullResolutionCropTest(TestCase):
    def test_detail_survives_only_in_the_full_resolution_crop(self):
        # A 64 px image of 2 px stripes; crops of 1/16 of its area are
        # 16 px of the original for a 16 px view: the stripes survive.
        # Resized to a 16 px square first, 4 original pixels average into
        # one: the stripes become a flat 127.5 before any crop.
        images = np.stack([stripes(64, 64)] * 4)
        layer = crop_only(scale=(1 / 16, 1 / 16), ratio=(1.0, 1.0))
        seed = tf.constant([3, 4])
        batch = raw_batch(images, "original", 4)
        self.assertAllEqual(batch["sizes"], [[64, 64]] * 4)
        views, parameters = layer.augment_with_parameters(
            batch["images"], seed, batch["sizes"]
        )
        boxes = parameters["crop"]["boxes"].numpy()
        self.assertAllClose(boxes[:, 2] - boxes[:, 0], [0.25] * 4)
        for view, box in zip(views.numpy(), boxes, strict=True):
            self.assertAllClose(
                view, crop_reference(images[0], box) / 255, atol=1e-5
            )
        # Each 16 px row of a view spans 4 stripes: black and white both.
        self.assertAllClose(views.numpy().min(axis=(1, 2, 3)), [0.0] * 4)
        self.assertAllClose(views.numpy().max(axis=(1, 2, 3)), [1.0] * 4)

        square = raw_batch(images, "square", 4)
        self.assertNotIn("sizes", square)
        self.assertEqual(tuple(square["images"].shape), (4, SIZE, SIZE, 3))
        flat, _ = layer.augment_with_parameters(square["images"], seed)
        # 255 * 2 / 4 = 127.5, rounded half to even to 128 by the decode.
        self.assertAllClose(flat, np.full(flat.shape, 128 / 255), atol=1e-6)

    def test_box_keeps_the_crop_ratio_in_original_pixels(self):
        # A 40 x 64 image: each box is drawn in its aspect ratio, so its
        # width / height in original pixels lies in `crop_ratio`. Cropped
        # from the square, the same draws would be 64 / 40 times wider.
        rng = np.random.default_rng(1)
        image = rng.integers(0, 256, (40, 64, 3), dtype=np.uint8)
        layer = crop_only()
        batch = raw_batch(np.stack([image] * 32), "original", 32)
        views, parameters = layer.augment_with_parameters(
            batch["images"], tf.constant([5, 6]), batch["sizes"]
        )
        boxes = parameters["crop"]["boxes"].numpy()
        heights, widths = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        ratios = widths * 64 / (heights * 40)
        self.assertAllInRange(ratios, 3 / 4 - 1e-5, 4 / 3 + 1e-5)
        self.assertGreater(np.ptp(heights * widths), 0.3)  # varied boxes
        for view, box in zip(views.numpy(), boxes, strict=True):
            self.assertAllClose(
                view, crop_reference(image, box) / 255, atol=1e-5
            )
        # The square's boxes, seen in the original's pixels, are not.
        square = raw_batch(np.stack([image] * 32), "square", 32)
        _, square_parameters = layer.augment_with_parameters(
            square["images"], tf.constant([5, 6])
        )
        square_boxes = square_parameters["crop"]["boxes"].numpy()
        square_ratios = (
            (square_boxes[:, 3] - square_boxes[:, 1])
            * 64
            / ((square_boxes[:, 2] - square_boxes[:, 0]) * 40)
        )
        self.assertGreater(np.max(square_ratios), 4 / 3 + 0.1)

    def test_square_images_draw_the_boxes_of_the_square_path(self):
        # Equal-size square images: the per-image aspect (batch, 1) draws
        # bit for bit the boxes of the batch-wide aspect.
        images = np.random.default_rng(2).integers(0, 256, (8, 64, 64, 3))
        frames = raw_batch(images.astype(np.uint8), "original", 8)
        crop = augment.RandomResizedCrop(SIZE, SIZE)
        seed = tf.constant([7, 8])
        framed = crop.get_random_transformation(
            frames["images"], seed, frames["sizes"]
        )
        plain = crop.get_random_transformation(frames["images"], seed)
        self.assertAllEqual(framed["boxes"], plain["boxes"])

    def test_a_rows_crop_does_not_depend_on_its_batch(self):
        # Row 0 holds the same 40 x 64 image next to a small or a large
        # one: same views, bit for bit, and the crop of the image alone
        # (unframed) up to float rounding.
        rng = np.random.default_rng(3)
        image = rng.integers(0, 256, (40, 64, 3), dtype=np.uint8)
        others = [(20, 30), (64, 50)]
        layer = crop_only(colour=True)
        seed = tf.constant([9, 10])
        views = []
        for shape in others:
            other = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
            frames = np.zeros((2, 64, 64, 3), np.uint8)
            frames[0, :40, :64], frames[1, : shape[0], : shape[1]] = (
                image,
                other,
            )
            sizes = tf.constant([[40, 64], list(shape)])
            views.append(layer(frames, seed=seed, sizes=sizes).numpy()[0])
        self.assertAllEqual(views[0], views[1])
        pair = np.stack([image, image])
        alone = layer(pair, seed=seed, sizes=tf.constant([[40, 64]] * 2))
        self.assertAllClose(alone[0], views[0], atol=1e-5)


def digest(element):
    return hashlib.sha256(
        b"".join(np.asarray(x).tobytes() for x in tf.nest.flatten(element))
    ).hexdigest()


class FullResolutionPipelineTest(TestCase):
    """A folder of larger, non-square images through the pipeline."""

    SHAPES = [(40, 24), (64, 48), (30, 70), (100, 20), (50, 50), (33, 41)]

    def setUp(self):
        super().setUp()
        rng = np.random.default_rng(4)
        self.images = [
            rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
            for shape in self.SHAPES * 2
        ]
        self.root = os.path.join(self.get_temp_dir(), "folder")
        labels = np.arange(len(self.images)) % 2
        write_image_folder(self.root, self.images, labels)
        self.source = data.sources.open_folder(self.root, SIZE)

    def test_frames_hold_each_image_at_its_size(self):
        element = self.source.decode_original(
            {"path": os.path.join(self.root, "class_1", "003.png")}
        )
        # 100 x 20 is over the 64 px cap: scaled by 0.64 to 64 x 13.
        self.assertAllEqual(element["sizes"], [64, 13])
        frame = element["images"].numpy()
        self.assertEqual(frame.shape, (64, 64, 3))
        self.assertAllEqual(frame[:, 13:], np.zeros((64, 51, 3)))
        # 40 x 24 fits: its pixels as decoded, the frame's rest zero.
        fitting = self.source.decode_original(
            {"path": os.path.join(self.root, "class_0", "000.png")}
        )
        self.assertAllEqual(fitting["sizes"], [40, 24])
        self.assertAllEqual(fitting["images"][:40, :24], self.images[0])
        frame = fitting["images"].numpy().astype(np.int64)
        self.assertEqual(frame.sum(), self.images[0].astype(np.int64).sum())

    @parameterized.named_parameters(
        # No colour: each trace of it costs seconds; crops and flips
        # already tell the rows' seeds apart.
        (
            "simclr",
            "simclr",
            {"augment.jitter_strength": "0", "augment.grayscale_prob": "0"},
        ),
        ("supervised_none", "supervised", {"method_options.recipe": "none"}),
    )
    def test_slices_join_into_the_whole_batch(self, method, options):
        # Two input pipelines' views of their rows are the rows of one
        # pipeline's views, bit for bit: a row's crop does not depend on
        # which images share its batch.
        config = smoke_config(self.get_temp_dir(), method, **options)
        views = methods.get_method(method).views_for(config)
        data_config = DataConfig("folder", self.root, image_size=SIZE)

        def batches(pipeline):
            dataset = data.pretrain_dataset(
                self.source,
                data_config,
                batch_size=4,
                seed=2,
                views=views,
                batches=(1, 3),
                pipeline=pipeline,
            )
            return [tf.nest.map_structure(np.asarray, b) for b in dataset]

        whole = batches((0, 1))
        first = whole[0].get("view_1", whole[0].get("images"))
        self.assertEqual(first.shape, (4, SIZE, SIZE, 3))
        halves = [batches((i, 2)) for i in (0, 1)]
        joined = [
            tf.nest.map_structure(lambda *x: np.concatenate(x), a, b)
            for a, b in zip(*halves, strict=True)
        ]
        self.assertEqual(
            [digest(b) for b in joined], [digest(b) for b in whole]
        )


class KnownSizeTest(TestCase):
    """Sources whose metadata fixes the image size keep the square path
    (cached, no `sizes`) when it is no larger than `image_size`."""

    @parameterized.named_parameters(
        ("cifar_sized", 32, False), ("larger_than_training", 16, True)
    )
    def test_arrays(self, image_size, crops):
        source = data.sources.open_arrays(np.zeros((4, 32, 32, 3), np.uint8))
        self.assertEqual(source.info.image_shape, (32, 32))
        config = DataConfig(image_size=image_size)
        self.assertEqual(
            data.pipeline.crops_original(source.info, config), crops
        )
        self.assertEqual(
            data.pipeline.holds_in_memory(source.info, config), not crops
        )

    @pytest.mark.skipif(
        not os.path.isdir(SHARED_TFDS), reason="no offline TFDS copy"
    )
    def test_tfds_cifar10_metadata(self):
        source = data.sources.open_tfds("cifar10", "test", 32, SHARED_TFDS)
        self.assertEqual(source.info.image_shape, (32, 32))
        self.assertFalse(
            data.pipeline.crops_original(source.info, DataConfig(image_size=32))
        )
