"""Tests for the bad-image scan and the in-graph decoder."""

import collections
import io
import os
import shutil
import struct
import tempfile
import zlib

import numpy as np
import tensorflow as tf
from absl.testing import parameterized
from PIL import Image

from ssl_tf.data import file_scan, images, scan
from ssl_tf.testing import TestCase, corrupt_images

SIZE = 12


def _read(path):
    with open(path, "rb") as file:
        return file.read()


def _encode(image, fmt, **kwargs):
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def _png_rgba16(color, size=4):
    """A 16-bit RGBA PNG of one colour, written chunk by chunk."""

    def chunk(kind, body):
        crc = zlib.crc32(kind + body).to_bytes(4, "big")
        return len(body).to_bytes(4, "big") + kind + body + crc

    pixel = b"".join(c.to_bytes(2, "big") for c in color)
    rows = (b"\0" + pixel * size) * size
    header = struct.pack(">IIBBBBB", size, size, 16, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


class ImagesTest(TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.directory = tempfile.mkdtemp()
        cls.expected = corrupt_images.write_corrupt_corpus(cls.directory)
        cls.names = sorted(cls.expected)
        cls.paths = [os.path.join(cls.directory, n) for n in cls.names]
        cls.report = file_scan.scan_files(cls.paths, max_workers=4)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.directory, ignore_errors=True)
        super().tearDownClass()

    def _path(self, name):
        return os.path.join(self.directory, name)

    def _assert_colors(self, names, decoded):
        for name, image in zip(names, decoded, strict=True):
            self.assertEqual(image.shape, (SIZE, SIZE, 3), name)
            self.assertEqual(image.dtype, np.uint8, name)
            expected = np.array(corrupt_images.EXPECTED_COLORS[name])
            error = np.abs(image.astype(int) - expected).max()
            self.assertLessEqual(error, 3, f"{name}: {image[0, 0]}")

    def _decode_in_tf_data(self, report):
        """Decodes `report.good` in `Dataset.map`, converting where asked."""
        contents = []
        for path in report.good:
            data = _read(path)
            if path in report.needs_conversion:
                data = images.convert_to_rgb_png_bytes(data)
            contents.append(data)
        dataset = tf.data.Dataset.from_tensor_slices(contents).map(
            lambda data: images.decode_image(data, SIZE)
        )
        names = [os.path.basename(p) for p in report.good]
        return names, list(dataset.as_numpy_iterator())

    def test_scan_accepts_and_skips_the_expected_files(self):
        good = [self._path(n) for n in self.names if self.expected[n] != "skip"]
        self.assertEqual(self.report.good, tuple(good))  # input order kept
        skipped = {os.path.basename(i) for i, _ in self.report.skipped}
        self.assertEqual(
            skipped, {n for n, o in self.expected.items() if o == "skip"}
        )
        kinds = collections.Counter(
            o for o in self.expected.values() if o not in ("rgb", "skip")
        )
        self.assertEqual(dict(self.report.converted), dict(kinds))
        self.assertEqual(self.report.needs_conversion, ())

    @parameterized.named_parameters(
        (name.replace(".", "_"), name, reason)
        for name, reason in corrupt_images.EXPECTED_REASONS.items()
    )
    def test_skip_reason(self, name, reason):
        reasons = {os.path.basename(i): r for i, r in self.report.skipped}
        self.assertStartsWith(reasons[name], reason)

    def test_too_large_reason_names_the_size(self):
        kind, reason = images.inspect_image_bytes(
            _read(self._path("huge_8000x8000.png"))
        )
        self.assertIsNone(kind)
        self.assertEqual(reason, "too large (8000x8000 > max_pixels=50000000)")

    def test_accepted_files_decode_in_tf_data_with_expected_colors(self):
        names, decoded = self._decode_in_tf_data(self.report)
        self.assertLen(decoded, len(self.report.good))
        self._assert_colors(names, decoded)

    def test_conversion_and_large_images_when_allowed(self):
        report = file_scan.scan_files(
            self.paths, max_pixels=64_000_000, allow_conversion=True
        )
        self.assertEqual(
            [os.path.basename(p) for p in report.needs_conversion],
            list(corrupt_images.CONVERSION_FILES),
        )
        self.assertIn(self._path("huge_8000x8000.png"), report.good)
        names, decoded = self._decode_in_tf_data(report)
        self.assertEqual(set(names), set(corrupt_images.EXPECTED_COLORS))
        self._assert_colors(names, decoded)

    def test_pil_conversion_gives_the_same_colors(self):
        for name, color in corrupt_images.EXPECTED_COLORS.items():
            if name.startswith("huge"):
                continue  # covered by the decode test; slow in PIL
            data = images.convert_to_rgb_png_bytes(_read(self._path(name)))
            self.assertEqual(images.inspect_image_bytes(data), ("", None))
            pixel = Image.open(io.BytesIO(data)).getpixel((0, 0))
            error = np.abs(np.array(pixel) - color).max()
            self.assertLessEqual(error, 3, f"{name}: {pixel}")

    @parameterized.named_parameters(
        ("gray_alpha_png", "LA", (100, 255), "PNG", "rgba"),
        ("rgba_16bit_png", "RGBA", None, "PNG", "uint16"),
        ("bilevel_bmp", "1", 1, "BMP", "bmp_indexed"),
        ("still_gif", "P", 0, "GIF", "palette"),
    )
    def test_inspect_kind(self, mode, color, fmt, kind):
        if color is None:  # PIL cannot write 16-bit RGBA
            data = _png_rgba16((65535, 0, 0, 65535))
        else:
            data = _encode(Image.new(mode, (4, 4), color), fmt)
        self.assertEqual(
            images.inspect_image_bytes(data, allow_conversion=True)[0], kind
        )

    def test_rgba_16bit_png_decodes_to_8bit(self):
        data = _png_rgba16((65535, 32768, 0, 65535))
        image = images.decode_image(tf.constant(data), 2).numpy()
        self.assertAllEqual(image[0, 0], (255, 128, 0))

    def test_unsupported_and_unreadable_files_are_skipped(self):
        tiff = _encode(Image.new("RGB", (4, 4)), "TIFF")
        self.assertEqual(
            images.inspect_image_bytes(tiff),
            (None, "unsupported format (TIFF)"),
        )
        report = file_scan.scan_files(
            [self._path("missing.jpg"), self.directory]
        )
        self.assertEqual(report.good, ())
        for _, reason in report.skipped:
            self.assertStartsWith(reason, "unreadable (")

    def test_summary_names_every_skipped_file(self):
        summary = self.report.summary()
        self.assertStartsWith(
            summary, f"{len(self.report.good)} usable, 6 skipped"
        )
        for item_id, reason in self.report.skipped:
            self.assertIn(f"{os.path.basename(item_id)} ({reason})", summary)
        self.assertNotIn(self.directory, summary)
        self.assertIn("1 uint16", summary)

    def test_summary_lists_twenty_names(self):
        report = images.ScanReport(
            skipped=tuple((f"/d/{i}.png", "empty file") for i in range(25))
        )
        summary = report.summary()
        self.assertIn("19.png (empty file) and 5 more.", summary)
        self.assertNotIn("20.png", summary)

    def test_skipped_files_are_logged(self):
        bad = [self._path("empty.jpg"), self._path("text.png")]
        with self.assertLogs("ssl_tf.data", "WARNING") as logs:
            file_scan.scan_files(bad)
        self.assertLen(logs.output, 2)
        self.assertIn("empty.jpg: empty file", logs.output[0])

    def test_require_usable_fails_fast_with_counts(self):
        bad = ["empty.jpg", "text.png", "truncated.jpg", "truncated_iend.png"]
        report = file_scan.scan_files([self._path(n) for n in bad])
        with self.assertRaisesRegex(
            images.NoUsableImagesError,
            r"No usable images in /data/x: 4 files skipped \(1 empty file, "
            r"1 not an image, 1 truncated JPEG, 1 truncated PNG\)\. "
            r"First: empty\.jpg \(empty file\)",
        ):
            images.require_usable(report, "/data/x")
        with self.assertRaisesRegex(images.NoUsableImagesError, "no image"):
            images.require_usable(images.ScanReport(), "/data/y")
        images.require_usable(self.report, "corpus")  # does not raise

    def test_scan_bytes_on_tfrecord_items(self):
        path = os.path.join(self.get_temp_dir(), "shard.tfrecord")
        with tf.io.TFRecordWriter(path) as writer:
            for name in self.names:
                feature = tf.train.Feature(
                    bytes_list=tf.train.BytesList(
                        value=[_read(self._path(name))]
                    )
                )
                example = tf.train.Example(
                    features=tf.train.Features(feature={"image": feature})
                )
                writer.write(example.SerializeToString())
        records = tf.data.TFRecordDataset(path).as_numpy_iterator()
        report = scan.scan_bytes(
            (
                f"{path}#{i}",
                tf.train.Example.FromString(record)
                .features.feature["image"]
                .bytes_list.value[0],
            )
            for i, record in enumerate(records)
        )
        expected_good = [
            f"{path}#{i}"
            for i, n in enumerate(self.names)
            if self.expected[n] != "skip"
        ]
        self.assertEqual(report.good, tuple(expected_good))
        self.assertEqual(report.converted, self.report.converted)
        self.assertIn("shard.tfrecord#", report.summary())

    def test_decode_image_rejects_bad_size(self):
        with self.assertRaisesRegex(ValueError, "image_size"):
            images.decode_image(tf.constant(b""), 0)


if __name__ == "__main__":
    tf.test.main()
