"""Bad image files end to end: folder, TFRecord, manifest, pretrain, CLI."""

import os
import shutil
import tempfile

import numpy as np
import tensorflow as tf
from PIL import Image

from ssl_tf.data import images, sources
from ssl_tf.testing import (
    TestCase,
    corrupt_images,
    run_cli,
    smoke_config,
    smoke_pretrain_argv,
    tiny_images,
)
from ssl_tf.training import run

SIZE = 12
NUM_GOOD = 8  # random RGB images around the corpus


def _read(path):
    with open(path, "rb") as file:
        return file.read()


def _write_tfrecord(path, contents):
    with tf.io.TFRecordWriter(path) as writer:
        for data in contents:
            feature = tf.train.Feature(
                bytes_list=tf.train.BytesList(value=[data])
            )
            example = tf.train.Example(
                features=tf.train.Features(feature={"image": feature})
            )
            writer.write(example.SerializeToString())


class BadImagesPipelineTest(TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = tempfile.mkdtemp()
        cls.folder = os.path.join(cls.tmp, "mixed")
        cls.expected = corrupt_images.write_corrupt_corpus(cls.folder)
        for i, image in enumerate(tiny_images(NUM_GOOD, 16, seed=3)):
            Image.fromarray(image).save(
                os.path.join(cls.folder, f"random_{i}.png")
            )
        cls.names = sorted(os.listdir(cls.folder))
        cls.bad = sorted(n for n, o in cls.expected.items() if o == "skip")
        cls.usable = [n for n in cls.names if n not in cls.bad]

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    def _check_decoded(self, names, dataset, info):
        """Count, shape and (for the corpus) the colour of every image."""
        decoded = [e["images"] for e in dataset.as_numpy_iterator()]
        self.assertEqual(info.num_examples, len(self.usable))
        self.assertLen(decoded, len(self.usable))
        self.assertCountEqual(names, self.usable)
        for name, image in zip(names, decoded, strict=True):
            self.assertEqual(image.shape, (SIZE, SIZE, 3), name)
            self.assertEqual(image.dtype, np.uint8, name)
            if name in corrupt_images.EXPECTED_COLORS:
                expected = np.array(corrupt_images.EXPECTED_COLORS[name])
                error = np.abs(image.astype(int) - expected).max()
                self.assertLessEqual(error, 3, f"{name}: {image[0, 0]}")

    def _check_skipped(self, report, name_of):
        skipped = {name_of(i): reason for i, reason in report.skipped}
        self.assertCountEqual(skipped, self.bad)
        for name in self.bad:
            expected = corrupt_images.EXPECTED_REASONS[name]
            self.assertStartsWith(skipped[name], expected)
        summary = report.summary()
        self.assertStartsWith(
            summary, f"{len(self.usable)} usable, {len(self.bad)} skipped"
        )
        for item_id, _ in report.skipped:
            self.assertIn(os.path.basename(item_id), summary)
        kinds = {o for o in self.expected.values() if o not in ("rgb", "skip")}
        self.assertEqual(set(dict(report.converted)), kinds)

    def test_folder_keeps_good_and_convertible_images(self):
        dataset, info = sources.load_folder(self.folder, SIZE)
        names = [os.path.basename(p) for p in info.scan.good]
        self._check_decoded(names, dataset, info)
        self._check_skipped(info.scan, os.path.basename)
        self.assertIsNone(info.num_classes)

    def test_folder_with_conversion_decodes_indexed_bmp(self):
        dataset, info = sources.load_folder(
            self.folder, SIZE, allow_conversion=True
        )
        self.assertEqual(
            [os.path.basename(p) for p in info.scan.needs_conversion],
            list(corrupt_images.CONVERSION_FILES),
        )
        decoded = dict(
            zip(
                [os.path.basename(p) for p in info.scan.good],
                [e["images"] for e in dataset.as_numpy_iterator()],
                strict=True,
            )
        )
        self.assertLen(decoded, len(self.usable) + 1)
        expected = np.array(corrupt_images.EXPECTED_COLORS["palette.bmp"])
        error = np.abs(decoded["palette.bmp"].astype(int) - expected).max()
        self.assertLessEqual(error, 3, decoded["palette.bmp"][0, 0])
        # Without conversion TF would read the palette indices as gray.
        self.assertLessEqual(
            np.abs(decoded["good_red.jpg"].astype(int) - (200, 30, 30)).max(),
            3,
        )

    def test_tfrecord_from_the_same_bytes(self):
        path = os.path.join(self.get_temp_dir(), "mixed.tfrecord")
        _write_tfrecord(
            path, [_read(os.path.join(self.folder, n)) for n in self.names]
        )
        dataset, info = sources.load_tfrecord(path, SIZE)

        def name_of(item_id):
            return self.names[int(item_id.rsplit("#", 1)[1])]

        self._check_decoded([name_of(i) for i in info.scan.good], dataset, info)
        self._check_skipped(info.scan, name_of)

    def test_manifest_with_a_missing_file(self):
        manifest = os.path.join(self.folder, "..", "mixed.txt")
        with open(manifest, "w") as handle:
            handle.write("\n".join(f"mixed/{n}" for n in self.names))
            handle.write("\nmixed/not_there.png\n")
        dataset, info = sources.load_manifest(manifest, SIZE)
        names = [os.path.basename(p) for p in info.scan.good]
        self._check_decoded(names, dataset, info)
        skipped = dict(info.scan.skipped)
        self.assertEqual(
            skipped[os.path.join(self.tmp, "mixed", "not_there.png")],
            "missing file",
        )
        self.assertIn("not_there.png (missing file)", info.scan.summary())
        # The missing file is listed last, as in the manifest.
        self.assertEndsWith(info.scan.skipped[-1][0], "not_there.png")

    def test_only_bad_files_fail_fast_with_counts(self):
        folder = os.path.join(self.get_temp_dir(), "bad")
        os.makedirs(folder)
        for name in self.bad:
            shutil.copy(os.path.join(self.folder, name), folder)
        with self.assertRaisesRegex(
            images.NoUsableImagesError,
            rf"No usable images in {folder}: {len(self.bad)} files skipped "
            r"\(.*1 empty file.*1 truncated JPEG.*\)\. First: empty\.jpg",
        ):
            sources.load_folder(folder, SIZE)

    def test_only_bad_files_through_the_cli(self):
        tmp = self.get_temp_dir()
        folder = os.path.join(tmp, "bad")
        os.makedirs(folder)
        for name in self.bad:
            shutil.copy(os.path.join(self.folder, name), folder)
        code, _, stderr = run_cli(
            smoke_pretrain_argv(
                tmp, "data.source=folder", f"data.name={folder}"
            )
        )
        self.assertEqual(code, 2)
        self.assertRegex(stderr, r"^error: No usable images in ")
        self.assertFalse(os.path.exists(os.path.join(tmp, "runs")))

    def test_pretrain_on_a_folder_with_bad_files(self):
        tmp = self.get_temp_dir()
        config = smoke_config(
            tmp,
            name="mixed",
            **{
                "data.source": "folder",
                "data.name": self.folder,
                "train.steps_per_epoch": "2",
            },
        )
        with self.assertLogs("ssl_tf", "WARNING") as logs:
            result = run.pretrain(config, verbose=0)
        text = "\n".join(logs.output)
        for name in self.bad:
            self.assertIn(f"Skipping image {self.folder}/{name}", text)
        summaries = [
            line for line in logs.output if "Epoch 0 data summary" in line
        ]
        self.assertLen(summaries, 1)
        self.assertIn(
            f"{len(self.usable)} usable, {len(self.bad)} skipped",
            summaries[0],
        )
        self.assertIn("truncated.jpg (truncated JPEG)", summaries[0])
        self.assertTrue(np.isfinite(result.history["loss"]).all())
        self.assertTrue(os.path.isdir(result.export_dir))


if __name__ == "__main__":
    tf.test.main()
