"""Encoders (backbones) and heads."""

from ssl_tf.models.backbones import (
    ENCODER_NAMES,
    application_names,
    build_encoder,
    embedding_dim,
    min_image_size,
)
from ssl_tf.models.batch_norm import BatchNormalization
from ssl_tf.models.heads import ClassificationHead, ProjectionHead

__all__ = [
    "ENCODER_NAMES",
    "BatchNormalization",
    "ClassificationHead",
    "ProjectionHead",
    "application_names",
    "build_encoder",
    "embedding_dim",
    "min_image_size",
]
