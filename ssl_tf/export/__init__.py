"""Export and load encoders."""

from ssl_tf.export.saved_model import (
    ExportError,
    LoadedEncoder,
    encoder_fingerprint,
    export_encoder,
    fingerprint,
    float32_encoder,
    load_encoder,
    load_keras_encoder,
    read_metadata,
)

__all__ = [
    "ExportError",
    "LoadedEncoder",
    "export_encoder",
    "encoder_fingerprint",
    "fingerprint",
    "float32_encoder",
    "load_encoder",
    "load_keras_encoder",
    "read_metadata",
]
