"""Test helpers shared by the test suite: a TestCase and tiny fixtures."""

from ssl_tf.testing.distribute import mirrored_strategy
from ssl_tf.testing.models import fit_two_steps, tiny_encoder
from ssl_tf.testing.test_case import TestCase, tiny_images

__all__ = [
    "fit_two_steps",
    "TestCase",
    "mirrored_strategy",
    "tiny_encoder",
    "tiny_images",
]
