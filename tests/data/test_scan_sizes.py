"""The scan records each usable image's size; sources bound them all.

A folder, manifest or TFRecord source whose scan found no image larger
than `data.image_size` keeps the square path (`crops_original` False,
held in memory), as TFDS metadata and arrays already do.
"""

import io
import os
import tempfile
from unittest import mock

import numpy as np
import tensorflow as tf
from absl.testing import parameterized
from PIL import Image

from ssl_tf import data
from ssl_tf.config import DataConfig
from ssl_tf.data import file_scan, images, scan
from ssl_tf.testing import TestCase, write_image_folder

# (height, width): the largest height and the largest width are of
# different images, so the bound is no one image's shape.
SHAPES = [(20, 12), (7, 30), (5, 5)]


def _noise(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (*s, 3), dtype=np.uint8) for s in shapes]


def _encode(image, fmt):
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


class ScanSizeTest(TestCase):
    def setUp(self):
        super().setUp()
        self.root = tempfile.mkdtemp(dir=self.get_temp_dir())
        self.cache = tempfile.mkdtemp(dir=self.get_temp_dir())
        write_image_folder(self.root, _noise(SHAPES))
        self.paths = [
            os.path.join(self.root, f"{i:03d}.png") for i in (0, 1, 2)
        ]
        # A bad file has no size and bounds nothing.
        self.bad = os.path.join(self.root, "999.png")
        with open(self.bad, "wb") as handle:
            handle.write(b"not an image")

    def _scan(self):
        """The report, and the paths the scan read (in order)."""
        paths = [*self.paths, self.bad]
        with mock.patch.object(scan, "_read", wraps=scan._read) as read:
            report = file_scan.scan_files(paths, cache_dir=self.cache)
        return report, [c.args[0] for c in read.call_args_list]

    def test_each_usable_image_has_its_height_and_width(self):
        datas = [open(p, "rb").read() for p in [*self.paths, self.bad]]
        self.assertEqual(
            [size for _, _, size in images.inspect_images(datas)],
            [*SHAPES, None],
        )

    def test_report_and_folder_source_carry_the_largest_sides(self):
        report, _ = self._scan()
        self.assertEqual(report.max_shape, (20, 30))
        source = data.sources.open_folder(self.root, 32)
        self.assertEqual(source.info.image_shape, (20, 30))

    def test_manifest_source_with_a_missing_file(self):
        manifest = os.path.join(self.root, "list.txt")
        with open(manifest, "w") as handle:
            handle.write("000.png\nmissing.png\n001.png\n")
        source = data.sources.open_manifest(manifest, 32)
        self.assertEqual(source.info.num_examples, 2)
        self.assertEqual(source.info.image_shape, (20, 30))

    def test_converted_images_have_their_size(self):
        # (height, width) = (9, 5) in every mode PIL or the decoder converts.
        cases = [
            ("L", "BMP", "bmp_indexed"),
            ("CMYK", "JPEG", "cmyk"),
            ("P", "PNG", "palette"),
            ("LA", "PNG", "rgba"),
        ]
        datas = [_encode(Image.new(m, (5, 9)), f) for m, f, _ in cases]
        results = images.inspect_images(datas, allow_conversion=True)
        self.assertEqual(
            results, [(kind, None, (9, 5)) for _, _, kind in cases]
        )

    def test_the_cache_keeps_the_sizes(self):
        first, read = self._scan()
        self.assertLen(read, 4)
        second, read = self._scan()
        self.assertEqual(read, [])
        self.assertEqual(second.max_shape, (20, 30))
        self.assertEqual(second, first)

    def test_an_older_version_cache_is_ignored(self):
        # A cache file of an older version, whose results would be wrong:
        # every file usable and 1 x 1.
        paths = [*self.paths, self.bad]
        options = [images.DEFAULT_MAX_PIXELS, False]
        with mock.patch.object(scan, "_CACHE_VERSION", scan._CACHE_VERSION - 1):
            old = scan.ScanCache(self.cache, paths, options)
        old.store({p: (scan.file_key(p), ("", None, (1, 1))) for p in paths})
        with open(old.path, "rb") as handle:
            written = handle.read()
        report, read = self._scan()
        self.assertEqual(read, paths)  # scanned again, not misread
        self.assertEqual(report.max_shape, (20, 30))
        self.assertLen(report.skipped, 1)
        self.assertLen(os.listdir(self.cache), 4)  # two caches, two files
        with open(old.path, "rb") as handle:  # left as it was
            self.assertEqual(handle.read(), written)

    def test_no_usable_image_bounds_nothing(self):
        self.assertIsNone(
            scan.report_of(["x"], [(None, "empty", None)]).max_shape
        )
        self.assertIsNone(scan.max_shape([(3, 4), None]))


class SquarePathTest(TestCase):
    """Scanned images no larger than `image_size` keep the square path."""

    @parameterized.named_parameters(
        ("all_fit", [], False), ("one_taller", [(17, 4)], True)
    )
    def test_folder(self, extra, crops):
        root = os.path.join(self.get_temp_dir(), "folder")
        write_image_folder(root, _noise([(16, 16), (9, 14), *extra]))
        config = DataConfig("folder", root, image_size=16, cache=True)
        source = data.sources.open_folder(root, 16)
        self.assertEqual(
            data.pipeline.crops_original(source.info, config), crops
        )
        self.assertEqual(
            data.pipeline.holds_in_memory(source.info, config), not crops
        )

    @parameterized.named_parameters(
        ("all_fit", (16, 9), False), ("one_wider", (3, 17), True)
    )
    def test_tfrecord(self, shape, crops):
        path = os.path.join(self.get_temp_dir(), "data.tfrecord")
        with tf.io.TFRecordWriter(path) as writer:
            for image in _noise([(12, 16), shape]):
                encoded = tf.io.encode_png(image).numpy()
                feature = tf.train.Feature(
                    bytes_list=tf.train.BytesList(value=[encoded])
                )
                example = tf.train.Example(
                    features=tf.train.Features(feature={"image": feature})
                )
                writer.write(example.SerializeToString())
        config = DataConfig(image_size=16, cache=True)
        expected = (max(12, shape[0]), max(16, shape[1]))
        cache = os.path.join(self.get_temp_dir(), "cache")
        with mock.patch.dict(os.environ, {scan.SCAN_CACHE_ENV: cache}):
            # The second open reads the per-file cache.
            for _ in range(2):
                source = data.sources.open_tfrecord(path, 16)
                self.assertEqual(source.info.image_shape, expected)
        self.assertEqual(
            data.pipeline.crops_original(source.info, config), crops
        )
        self.assertEqual(
            data.pipeline.holds_in_memory(source.info, config), not crops
        )
