"""Export and load encoders."""

from ssl_tf.export.metadata import (
    experiment_metadata,
    export_experiment,
    is_export,
)
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
    "experiment_metadata",
    "export_encoder",
    "export_experiment",
    "encoder_fingerprint",
    "fingerprint",
    "float32_encoder",
    "is_export",
    "load_encoder",
    "load_keras_encoder",
    "read_metadata",
]
