"""A protocol is one new file: registry, CLI choices and `run` pick it up."""

import contextlib
import dataclasses
import io
import os
import sys

from ssl_tf import cli, evaluation, registry
from ssl_tf.config import DataConfig
from ssl_tf.evaluation import base, protocols
from ssl_tf.testing import TestCase, colour_classes, tiny_export

TOY_PROTOCOL = '''
"""A throwaway protocol: the fraction of test labels equal to `label`."""

import dataclasses

import numpy as np

from ssl_tf.evaluation import base


@dataclasses.dataclass(frozen=True)
class ToyOptions(base.ProtocolOptions):
    label: int = 0


@base.register_protocol("toy_majority", ToyOptions)
def toy_majority(context, options):
    """Fraction of test examples labelled `label` (for tests only)."""
    test = context.features("test")
    share = float(np.mean(test.labels == options.label))
    return context.result(
        {"top1": share}, base.sizes(test=test), "", test.description
    )
'''


class ProtocolRegistryTest(TestCase):
    def test_a_new_file_adds_a_protocol_everywhere(self):
        tmp = self.get_temp_dir()
        self.add_module_file(
            evaluation, TOY_PROTOCOL, registry.PROTOCOLS, "toy_majority"
        )
        self.assertIn("toy_majority", evaluation.protocol_names())
        out = io.StringIO()
        with contextlib.redirect_stdout(out), self.assertRaises(SystemExit):
            cli.main(["eval", "--help"])
        self.assertIn("toy_majority", out.getvalue())
        self.assertIn("label [0]", out.getvalue())
        labels = colour_classes(9, 1)
        result = protocols.run(
            "toy_majority",
            tiny_export(os.path.join(tmp, "export")),
            DataConfig(source="arrays", name="toy", image_size=16),
            options={"label": "2", "use_cache": False},
            arrays={"train": colour_classes(6, 0), "test": labels},
        )
        self.assertAllClose(result["metrics"]["top1"], 3 / 9)
        self.assertEqual(result["options"]["label"], 2)
        with self.assertRaisesRegex(ValueError, "labell"):
            base.resolve_options("toy_majority", {"labell": 1})

    def test_a_removed_protocol_file_leaves_no_trace(self):
        self.assertNotIn("toy_majority", registry.PROTOCOLS)
        self.assertNotIn("ssl_tf.evaluation.toy_majority", sys.modules)

    def test_every_protocol_has_an_options_dataclass_and_a_summary(self):
        for name in evaluation.protocol_names():
            protocol = registry.PROTOCOLS.get(name)
            self.assertTrue(
                issubclass(protocol.options_cls, base.ProtocolOptions)
            )
            self.assertTrue(dataclasses.is_dataclass(protocol.options_cls))
            self.assertNotEmpty(protocol.summary)

    def test_duplicate_registration_is_refused(self):
        with self.assertRaises(KeyError):
            base.register_protocol("knn")(lambda context, options: None)
