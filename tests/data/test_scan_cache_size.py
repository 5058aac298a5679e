"""The scan cache stays small: digests for plain files, results for others."""

import json
import os
import tempfile

import numpy as np

from ssl_tf.data import file_scan, scan
from ssl_tf.testing import TestCase, tiny_images, write_image_folder


class CompactCacheTest(TestCase):
    def setUp(self):
        super().setUp()
        self.root = tempfile.mkdtemp(dir=self.get_temp_dir())
        self.cache = tempfile.mkdtemp(dir=self.get_temp_dir())
        write_image_folder(self.root, tiny_images(3, 8, seed=2))
        self.paths = sorted(
            os.path.join(self.root, name) for name in os.listdir(self.root)
        )
        self.bad = os.path.join(self.root, "bad.png")
        with open(self.bad, "wb") as handle:
            handle.write(b"nope")

    def test_plain_files_are_stored_as_digests_only(self):
        file_scan.scan_files(self.paths + [self.bad], cache_dir=self.cache)
        (name,) = [n for n in os.listdir(self.cache) if n.endswith(".json")]
        with open(os.path.join(self.cache, name)) as handle:
            stored = json.load(handle)
        expected = sorted(scan.digest(p, scan.file_key(p)) for p in self.paths)
        cache = scan.ScanCache(self.cache, self.paths + [self.bad], [])
        self.assertEqual(list(cache.plain), [])  # other options: other file
        cache = scan.open_cache(
            self.cache,
            self.paths + [self.bad],
            [scan.DEFAULT_MAX_PIXELS, False],
        )
        self.assertEqual([int(d) for d in cache.plain], expected)
        bad_digest = scan.digest(self.bad, scan.file_key(self.bad))
        self.assertEqual(
            stored["entries"],
            {str(bad_digest): [None, "not an image (unknown header)", None]},
        )
        # The plain digests: 8 bytes a file, sorted, in their own file.
        self.assertEqual(stored["plain_count"], len(expected))
        self.assertEqual(os.path.getsize(cache.plain_path), 8 * len(expected))
        # The plain files' sizes are one bound: tiny_images are 8 x 8.
        self.assertEqual(stored["plain_shape"], [8, 8])
        self.assertEqual(
            cache.lookup(self.paths[0], scan.file_key(self.paths[0])),
            ("", None, (8, 8)),
        )
        self.assertIsNone(cache.lookup(self.paths[0], [1, 2]))

    def test_results_by_path_round_trip(self):
        # The TFRecord scan stores a dict a file.
        cache = scan.ScanCache(self.cache, self.paths, ["tfrecord"])
        result = {"count": 3, "odd": [[1, "", "corrupt"]], "max_label": 2}
        key = scan.file_key(self.paths[0])
        cache.store({self.paths[0]: (key, result)})
        again = scan.ScanCache(self.cache, self.paths, ["tfrecord"])
        self.assertEqual(again.lookup(self.paths[0], key), result)
        self.assertIsNone(again.lookup(self.paths[1], key))

    def test_common_root_is_commonpath(self):
        for paths in (
            ["/r/a/b.png", "/r/a-c/d.png", "/r/a/e.png"],
            ["/r/c1/a.png", "/r/c2/b.png"],
            ["/a/b", "/a/bc/d"],
            ["/only.png"],
        ):
            self.assertEqual(
                scan._common_root(paths), os.path.commonpath(paths)
            )
        self.assertEqual(scan._common_root([]), "")

    def test_known_plain_matches_membership(self):
        cache = scan.ScanCache(self.cache, self.paths, ["x"])
        cache.plain = np.array([3, 10, 42], np.uint64)
        self.assertAllEqual(
            cache.known_plain(np.array([0, 3, 11, 42, 99], np.uint64)),
            [False, True, False, True, False],
        )

    def test_digests_that_disagree_with_their_count_are_no_cache(self):
        # A scan killed between writing the digests and the JSON file.
        options = [scan.DEFAULT_MAX_PIXELS, False]
        file_scan.scan_files(self.paths, cache_dir=self.cache)
        cache = scan.open_cache(self.cache, self.paths, options)
        self.assertLen(cache.plain, len(self.paths))
        with open(cache.plain_path, "ab") as handle:
            handle.write(bytes(8))
        again = scan.open_cache(self.cache, self.paths, options)
        self.assertEqual((len(again.plain), again.entries), (0, {}))
