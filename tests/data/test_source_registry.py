"""A data source is one new file: registry, config, CLI and loaders see it."""

import contextlib
import io
import os
import sys

import numpy as np

from ssl_tf import cli, data, registry
from ssl_tf.config import ConfigError, DataConfig
from ssl_tf.data import sources
from ssl_tf.testing import TestCase

README = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")

TOY_SOURCE = '''
"""A throwaway source: `data.name` images of one grey level each."""

import numpy as np
import tensorflow as tf

from ssl_tf.data.sources import base


@base.register_source("toy_grey")
def toy_grey(data_config, split, arrays=None):
    """Grey images, image i of level 10 * i (for tests only)."""
    count = int(data_config.name)
    table = {"level": np.arange(count, dtype=np.int64) * 10}
    size = data_config.image_size

    def decode(record):
        level = tf.cast(record["level"], tf.uint8)
        return {"images": tf.fill((size, size, 3), level),
                "labels": record["level"] // 10 % 2}

    info = base.SourceInfo(num_examples=count, num_classes=2)
    return base.Source(
        info=info,
        records=tf.data.Dataset.from_tensor_slices(table),
        decode=decode,
        table=table,
    )
'''


class SourceRegistryTest(TestCase):
    def test_a_new_file_adds_a_source_everywhere(self):
        self.add_module_file(sources, TOY_SOURCE, registry.SOURCES, "toy_grey")
        config = DataConfig(source="toy_grey", name="3", image_size=8)
        config.validate()
        self.assertIn("toy_grey", data.command_line_sources())
        out = io.StringIO()
        with contextlib.redirect_stdout(out), self.assertRaises(SystemExit):
            cli.main(["eval", "--help"])
        self.assertIn("toy_grey", out.getvalue())
        dataset, info = data.load_source(config)
        elements = list(dataset.as_numpy_iterator())
        self.assertEqual(info.num_examples, 3)
        self.assertEqual(
            [int(e["images"][4, 4, 1]) for e in elements], [0, 10, 20]
        )
        self.assertEqual([int(e["labels"]) for e in elements], [0, 1, 0])
        source = data.open_source(config)
        self.assertAllEqual(source.table["level"], [0, 10, 20])

    def test_a_removed_source_file_leaves_no_trace(self):
        self.assertNotIn("toy_grey", registry.SOURCES)
        self.assertNotIn("ssl_tf.data.sources.toy_grey", sys.modules)
        with self.assertRaisesRegex(ConfigError, "must be one of"):
            DataConfig(source="toy_grey").validate()

    def test_unknown_source_names_the_closest(self):
        with self.assertRaisesRegex(ConfigError, "folder"):
            DataConfig(source="foldr").validate()

    def test_arrays_is_python_only(self):
        self.assertIn("arrays", registry.SOURCES)
        self.assertNotIn("arrays", data.command_line_sources())
        with self.assertRaisesRegex(data.DataError, "arrays="):
            data.open_source(DataConfig(source="arrays"))

    def test_duplicate_registration_is_refused(self):
        with self.assertRaises(KeyError):
            sources.register_source("folder")(lambda *args: None)

    def test_readme_lists_every_source_with_its_summary(self):
        with open(README, encoding="utf-8") as handle:
            text = handle.read()
        for name in registry.SOURCES.names():
            summary = registry.SOURCES.get(name).summary
            row = f"| `{name}` | {summary} |"
            self.assertTrue(row in text, f"README.md lacks the row {row}")

    def test_records_then_decode_equals_the_loaded_dataset(self):
        images = np.arange(2 * 4 * 4 * 3, dtype=np.uint8).reshape(2, 4, 4, 3)
        config = DataConfig(source="arrays", image_size=4)
        source = data.open_source(config, arrays=(images, [1, 0]))
        dataset, _ = data.load_source(config, arrays=(images, [1, 0]))
        decoded = [source.decode(r) for r in source.records]
        for a, b in zip(decoded, dataset, strict=True):
            self.assertAllEqual(a["images"], b["images"])
            self.assertEqual(int(a["labels"]), int(b["labels"]))
        self.assertAllEqual(source.table["images"], images)
