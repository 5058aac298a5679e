"""Test helpers shared by the test suite: a TestCase and tiny fixtures."""

from ssl_tf.testing.callbacks import AfterStep
from ssl_tf.testing.cli import error_lines, run_cli, smoke_pretrain_argv
from ssl_tf.testing.configs import smoke_config
from ssl_tf.testing.distribute import mirrored_strategy
from ssl_tf.testing.image_folder import write_image_folder
from ssl_tf.testing.models import (
    TinyExportTestCase,
    fit_two_steps,
    tiny_encoder,
    tiny_export,
)
from ssl_tf.testing.test_case import TestCase, colour_classes, tiny_images

__all__ = [
    "AfterStep",
    "colour_classes",
    "error_lines",
    "fit_two_steps",
    "TestCase",
    "TinyExportTestCase",
    "mirrored_strategy",
    "run_cli",
    "smoke_config",
    "smoke_pretrain_argv",
    "tiny_encoder",
    "tiny_export",
    "tiny_images",
    "write_image_folder",
]
