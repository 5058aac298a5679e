"""Encoders (backbones) and heads."""

from ssl_tf.models.backbones import (
    ENCODER_NAMES,
    application_names,
    build_encoder,
    embedding_dim,
    min_image_size,
)
from ssl_tf.models.heads import ClassificationHead, ProjectionHead

__all__ = [
    "ENCODER_NAMES",
    "ClassificationHead",
    "ProjectionHead",
    "application_names",
    "build_encoder",
    "embedding_dim",
    "min_image_size",
]
