"""The one export call of a pretraining experiment, and its metadata.

Every export of an experiment's encoder (the end of `pretrain`, `ssl-tf
export` from a checkpoint or at random init, the `Pretrain` component)
goes through `export_experiment`, so they all record the same metadata.
"""

from __future__ import annotations

import json
import os

from ssl_tf.export import saved_model


def experiment_metadata(config, method: str | None = None) -> dict:
    """The metadata an experiment's export records next to the encoder.

    Args:
        config: the `ssl_tf.ExperimentConfig` that trained the encoder.
        method: the method recorded; `None` takes `config.method`
            (`"random"` marks the untrained baseline).

    Returns:
        `{"config": <the config as JSON data>, "method": <method>}`.
    """
    return {
        "config": json.loads(config.to_json()),
        "method": method or config.method,
    }


def export_experiment(
    encoder, config, directory: str, method: str | None = None
) -> str:
    """Exports `encoder` of `config` to `directory` with its metadata.

    Args:
        encoder: the Keras encoder.
        config: its `ssl_tf.ExperimentConfig` (gives the image size).
        directory: the export directory (see `export_encoder`).
        method: see `experiment_metadata`.

    Returns:
        `directory`.
    """
    return saved_model.export_encoder(
        encoder,
        directory,
        config.data.image_size,
        metadata=experiment_metadata(config, method),
    )


def is_export(directory: str) -> bool:
    """True if `directory` holds a complete export (SavedModel and metadata).

    `export_encoder` installs an export all at once, so both parts exist
    exactly when an export succeeded.
    """
    return os.path.exists(
        os.path.join(directory, saved_model.SAVED_MODEL, "saved_model.pb")
    ) and os.path.exists(os.path.join(directory, saved_model.METADATA))
