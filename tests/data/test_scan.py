"""The file scan runs in processes and is cached by (path, size, mtime)."""

import os
import tempfile
from unittest import mock

import pytest
from PIL import Image

from ssl_tf import data
from ssl_tf.data import file_scan, images, scan
from ssl_tf.testing import TestCase, tiny_images


class ScanCacheTest(TestCase):
    def setUp(self):
        super().setUp()
        self.root = tempfile.mkdtemp(dir=self.get_temp_dir())
        self.cache = tempfile.mkdtemp(dir=self.get_temp_dir())
        self.paths = []
        for i, image in enumerate(tiny_images(4, 8, seed=7)):
            path = os.path.join(self.root, f"{i}.png")
            Image.fromarray(image).save(path)
            self.paths.append(path)
        self.bad = os.path.join(self.root, "bad.png")
        with open(self.bad, "wb") as handle:
            handle.write(b"not an image")
        self.paths.append(self.bad)

    def _scan(self, **kwargs):
        """The report, and the paths the scan inspected (in order)."""
        with mock.patch.object(scan, "_read", wraps=scan._read) as inspect:
            report = file_scan.scan_files(
                self.paths, cache_dir=self.cache, **kwargs
            )
        return report, [c.args[0] for c in inspect.call_args_list]

    def test_a_second_scan_reads_the_cache(self):
        first, inspected = self._scan()
        self.assertEqual(inspected, self.paths)
        second, inspected = self._scan()
        self.assertEqual(inspected, [])
        self.assertEqual(second, first)
        self.assertEqual(second.good, tuple(self.paths[:4]))
        self.assertEqual(
            second.skipped, ((self.bad, "not an image (unknown header)"),)
        )

    def test_a_touched_or_changed_file_is_scanned_again_alone(self):
        self._scan()
        info = os.stat(self.paths[1])
        os.utime(self.paths[1], ns=(info.st_atime_ns, info.st_mtime_ns + 10))
        _, inspected = self._scan()
        self.assertEqual(inspected, [self.paths[1]])
        # Now a bad file becomes good: the cached reason must not survive.
        Image.fromarray(tiny_images(1, 8)[0]).save(self.bad, "PNG")
        report, inspected = self._scan()
        self.assertEqual(inspected, [self.bad])
        self.assertEqual(report.good, tuple(self.paths))

    def test_the_environment_sets_or_disables_the_cache(self):
        directory = os.path.join(self.cache, "from_env")
        with mock.patch.dict(os.environ, {scan.SCAN_CACHE_ENV: directory}):
            self.assertEqual(scan.cache_directory(), directory)
            data.load_folder(self.root, 8)
            # One cache: its JSON file and its plain digests.
            self.assertCountEqual(
                [os.path.splitext(n)[1] for n in os.listdir(directory)],
                [".json", ".plain"],
            )
            with mock.patch.object(scan, "_read") as inspect:
                _, info = data.load_folder(self.root, 8)
            inspect.assert_not_called()
            self.assertEqual(info.num_examples, 4)
        with mock.patch.dict(os.environ, {scan.SCAN_CACHE_ENV: "none"}):
            self.assertIsNone(scan.cache_directory())

    def test_default_cache_is_under_the_user_cache(self):
        with mock.patch.dict(os.environ):
            os.environ.pop(scan.SCAN_CACHE_ENV, None)
            self.assertEqual(
                scan.cache_directory(),
                os.path.expanduser("~/.cache/ssl_tf/scans"),
            )

    @pytest.mark.large
    def test_worker_processes_give_the_in_process_report(self):
        # Chunks of 2 files over 2 spawned processes (each imports TF).
        with (
            mock.patch.object(scan, "MIN_PARALLEL_FILES", 0),
            mock.patch.object(scan, "_read") as in_this_process,
        ):
            parallel = file_scan.scan_files(
                self.paths, max_workers=2, chunk_size=2, cache_dir=None
            )
        in_this_process.assert_not_called()
        serial = file_scan.scan_files(self.paths, max_workers=1, cache_dir=None)
        self.assertEqual(parallel, serial)
        self.assertEqual(parallel.good, tuple(self.paths[:4]))

    def test_a_good_file_is_decoded_once_by_tensorflow_only(self):
        with (
            mock.patch.object(
                images, "_pil_load_reason", wraps=images._pil_load_reason
            ) as pil_load,
            mock.patch.object(
                images, "_tf_decodable", wraps=images._tf_decodable
            ) as tf_decode,
        ):
            report = file_scan.scan_files(self.paths[:4], cache_dir=None)
        self.assertLen(report.good, 4)
        # One tf.data pass decodes the four files.
        self.assertEqual(tf_decode.call_count, 1)
        self.assertLen(tf_decode.call_args.args[0], 4)
        pil_load.assert_not_called()
