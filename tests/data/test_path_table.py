"""`PathTable`: paths as one byte buffer, and what the file sources keep.

The folder and manifest sources hold their paths as a `PathTable` from
listing to the pipeline; these tests pin its strings to the plain list,
bound the Python memory a listed and scanned file costs, and check that
TensorFlow holds no string a file either.
"""

import gc
import os
import tracemalloc
from unittest import mock

import numpy as np
import tensorflow as tf

from ssl_tf import data
from ssl_tf.data import file_scan, memory, paths, scan
from ssl_tf.data.paths import PathTable
from ssl_tf.testing import TestCase, tiny_images, write_image_folder

PLAIN = ["/data/a/x.png", "/data/a/ÿ ü.png", "/data/b/c.jpg", "/data/a/x.png"]


class PathTableTest(TestCase):
    def test_round_trip_keeps_each_string_and_repeat(self):
        table = PathTable.from_paths(PLAIN)
        self.assertEqual(table.prefix, "/data/")
        self.assertEqual(list(table), PLAIN)
        self.assertEqual(table, tuple(PLAIN))
        self.assertEqual(tuple(PLAIN), table)
        self.assertEqual(table[-1], PLAIN[-1])
        self.assertEqual(table[1:3], PLAIN[1:3])
        with self.assertRaises(IndexError):
            table[4]
        # Bytes after the prefix, UTF-8 encoded: 2 + 3 + 1 + 2 + 1 + 4
        # bytes for "a/ÿ ü.png"; 6 bytes of offsets a path.
        self.assertEqual(table.lengths.tolist(), [7, 11, 7, 7])
        self.assertEqual(table.starts.tolist(), [0, 7, 18, 25])
        self.assertEqual(table.nbytes, 32 + 4 * 6)

    def test_take_shares_the_buffer(self):
        table = PathTable.from_paths(PLAIN)
        kept = table.take(np.array([True, False, True, True]))
        self.assertEqual(list(kept), [PLAIN[0], PLAIN[2], PLAIN[3]])
        self.assertIs(kept.blob, table.blob)
        self.assertEqual(list(table.take([3, 1])), [PLAIN[3], PLAIN[1]])
        self.assertIs(table.take(np.ones(4, bool)), table)
        self.assertNotEqual(kept, table)
        self.assertEqual(hash(kept), hash(PathTable.from_paths(list(kept))))

    def test_chunks_and_prefixes(self):
        names = [f"r/{i:02d}.png" for i in range(10)]
        table = PathTable.from_paths(names)
        self.assertEqual([len(c) for c in table.chunks(4)], [4, 4, 2])
        self.assertEqual(list(table), names)
        # No separator in common: no prefix; a lone path: its directory.
        self.assertEqual(PathTable.from_paths(["ab", "ac"]).prefix, "")
        self.assertEqual(PathTable.from_paths(["/x/y"]).prefix, "/x/")
        self.assertEqual(list(PathTable.from_paths([])), [])

    def test_an_undecodable_name_round_trips(self):
        name = os.fsdecode(b"/d/\xff.png")  # surrogate-escaped
        table = PathTable.from_paths([name])
        self.assertEqual(table[0], name)
        self.assertEqual(bytes(table.blob), b"\xff.png")


class RepeatedPathTest(TestCase):
    def test_a_repeated_path_is_read_once_and_kept_twice(self):
        root = self.get_temp_dir()
        write_image_folder(root, tiny_images(2, 8, seed=3))
        a, b = (os.path.join(root, f"{i:03d}.png") for i in (0, 1))
        with mock.patch.object(scan, "_read", wraps=scan._read) as read:
            report = file_scan.scan_files([a, b, a], cache_dir=None)
        self.assertEqual([c.args[0] for c in read.call_args_list], [a, b])
        self.assertEqual(report.good, (a, b, a))

    def test_manifest_rows_keep_their_labels(self):
        root = self.get_temp_dir()
        write_image_folder(root, tiny_images(2, 8, seed=4))
        manifest = os.path.join(root, "list.csv")
        with open(manifest, "w") as handle:
            handle.write("path,label\n000.png,2\nmissing.png,0\n")
            handle.write("001.png,1\n000.png,0\n")
        source = data.sources.open_manifest(manifest, 8)
        self.assertEqual(source.table["label"].tolist(), [2, 1, 0])
        self.assertEqual(
            [os.path.basename(p) for p in source.info.scan.good],
            ["000.png", "001.png", "000.png"],
        )
        labels = [int(e["labels"]) for e in source.dataset()]
        self.assertEqual(labels, [2, 1, 0])


def _empty_folder(root, classes, per_class):
    for k in range(classes):
        folder = os.path.join(root, f"class_{k}")
        os.makedirs(folder)
        for i in range(per_class):
            open(os.path.join(folder, f"{i:05d}.png"), "wb").close()


def _plain(paths_, *args):
    return [("", None, (8, 8))] * len(paths_)


class CompactMemoryTest(TestCase):
    """Python memory of listing and scanning (cache warm) a folder.

    Files named `class_k/00000.png`: 17 bytes a path after the prefix, 6
    bytes of offsets and 8 of label (and 4 as a table column) are kept
    (35); while scanning, a
    digest (8), a code (4) and a few flags a file, and the cache's sorted
    digests (8, read from their binary file) add to that. Measured as the
    growth from 1,500 to 7,500 files, so fixed costs (TensorFlow's
    Python objects) cancel. A string a file would cost about 100 bytes.
    """

    def _open(self, files):
        """(kept, peak) Python bytes of opening a folder of `files`."""
        root = os.path.join(self.get_temp_dir(), f"folder{files}")
        _empty_folder(root, 3, files // 3)
        cache = os.path.join(self.get_temp_dir(), "cache")
        with (
            mock.patch.object(scan, "_inspect_chunk", _plain),
            mock.patch.object(scan, "MIN_PARALLEL_FILES", 10**9),
            mock.patch.object(paths, "CHUNK", 256),
            mock.patch.dict(os.environ, {scan.SCAN_CACHE_ENV: cache}),
        ):
            data.sources.open_folder(root, 8)  # fills the cache
            gc.collect()
            tracemalloc.start()
            try:
                before, _ = tracemalloc.get_traced_memory()
                source = data.sources.open_folder(root, 8)
                gc.collect()
                after, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
        self.assertEqual(source.info.num_examples, files)
        return after - before, peak - before

    def test_memory_a_file_is_its_bytes_and_offsets(self):
        (kept1, peak1), (kept2, peak2) = self._open(1500), self._open(7500)
        self.assertLess((kept2 - kept1) / 6000, 45)
        self.assertLess((peak2 - peak1) / 6000, 110)


class TensorFlowTableTest(TestCase):
    def test_no_string_a_file_in_tensorflow(self):
        root = os.path.join(self.get_temp_dir(), "folder")
        labels = np.arange(6) % 2
        write_image_folder(root, tiny_images(6, 8, seed=5), labels)
        source = data.sources.open_folder(root, 8)
        table = source.table
        columns = memory.held(table)
        shared = memory.held(table.shared)
        self.assertEqual(sorted(columns), ["label", "length", "start"])
        for variable in columns.values():
            self.assertNotEqual(variable.dtype, tf.string)
            self.assertEqual(variable.shape, (6,))
        self.assertEqual(shared["paths"].dtype, tf.string)
        self.assertEqual(shared["paths"].shape, ())
        # The records cut the listed paths from the one string.
        records = list(source.records.as_numpy_iterator())
        self.assertEqual(
            [r["path"].decode() for r in records], list(source.info.scan.good)
        )
        self.assertEqual([int(r["label"]) for r in records], [0, 0, 0, 1, 1, 1])
        # The records read the variables a pipeline gathers from.
        self.assertIs(memory.held(table)["start"], columns["start"])
