"""Continued pretraining: the encoder weights a fresh run starts from.

`encoder.init_from` names an export directory (what `pretrain` and
`ssl-tf export` write) or a `.keras` encoder file. `prepare` calls
`initial_weights`, which loads that encoder, checks it against the encoder
the config builds, weight by weight, and returns its weights, before any
data is read. `build_model` sets them right after building the encoder
and before the method wraps it, so every copy a method makes of its
encoder (MoCo's key encoder) starts from them too. The method's heads and
the optimizer start fresh. A run that resumes from a checkpoint does not
load them: the checkpoint already holds their effect.

Reference:
 - [Azizi et al., 2021](https://arxiv.org/abs/2101.05224): pretraining on
   natural images, then self-supervised pretraining on the unlabelled
   medical images, beat either alone.
"""

from __future__ import annotations

import itertools
import logging
import os

import keras
import numpy as np

from ssl_tf import export, models
from ssl_tf.config import ConfigError, ExperimentConfig
from ssl_tf.export.saved_model import KERAS_FILE
from ssl_tf.training import checkpoints

logger = logging.getLogger("ssl_tf.training")

KEY = "`encoder.init_from`"


def keras_file(path: str) -> str:
    """The `.keras` encoder file of `path`: an export directory or the file.

    Raises:
        ConfigError: if `path` does not exist, is a directory without
            `encoder.keras`, or a file that is not a `.keras` file.
    """
    kinds = (
        "an export directory (as `ssl-tf pretrain` and `ssl-tf export` "
        "write) or a `.keras` encoder file"
    )
    if not os.path.exists(path):
        raise ConfigError(f"{KEY} {path!r} does not exist. It must be {kinds}.")
    if os.path.isdir(path):
        candidate = os.path.join(path, KERAS_FILE)
        if not os.path.isfile(candidate):
            raise ConfigError(
                f"{KEY} {path!r} is a directory without {KERAS_FILE}, so "
                f"not an ssl_tf export. It must be {kinds}."
            )
        return candidate
    if not path.endswith(".keras"):
        raise ConfigError(f"{KEY} {path!r} must be {kinds}.")
    return path


def load(path: str) -> keras.Model:
    """The encoder at `path` (see `keras_file`), loaded in safe mode."""
    file = keras_file(path)
    try:
        return export.load_keras_encoder(file)
    # Keras reports a bad archive with many error types (zip, JSON, unknown
    # class in safe mode); all of them mean the same thing here.
    except Exception as error:
        raise ConfigError(
            f"{KEY} {path!r}: {file} does not load as a Keras encoder "
            f"({type(error).__name__}: {str(error)[:300]})."
        ) from error


def identity(path: str) -> str:
    """What `path` loads, as one string: two spellings of it are equal.

    The absolute path with symlinks resolved, an export's `encoder.keras`
    named by its directory.
    """
    resolved = os.path.realpath(path)
    if os.path.basename(resolved) == KERAS_FILE:
        return os.path.dirname(resolved)
    return resolved


def first_difference(expected, found) -> str | None:
    """Where two encoders' weight lists first differ, or `None`.

    Weights are matched in order and compared by shape: their values must
    fit, while names may differ (Keras numbers unnamed layers per process,
    and a `keras.applications` model is named after its input size).

    Args:
        expected: the weights of the encoder the config builds.
        found: the weights of the encoder to start from.

    Returns:
        A phrase naming the first weight whose shape differs, or the first
        one without a counterpart, with both shapes.
    """
    pairs = itertools.zip_longest(expected, found)
    for index, (want, have) in enumerate(pairs):
        if have is None:
            return (
                f"weight {index} {want.path} {tuple(want.shape)} of this "
                f"run's encoder has no counterpart: the export has only "
                f"{len(found)} weights"
            )
        if want is None:
            return (
                f"weight {index} {have.path} {tuple(have.shape)} of the "
                f"export has no counterpart: this run's encoder has only "
                f"{len(expected)} weights"
            )
        if tuple(want.shape) != tuple(have.shape):
            return (
                f"the first weight that differs is number {index}: "
                f"{want.path} has shape {tuple(want.shape)} in this run's "
                f"encoder, the export's {have.path} has shape "
                f"{tuple(have.shape)}"
            )
    return None


def _trained_with(path: str) -> str:
    """The export's encoder config, as its metadata records it, or ''."""
    directory = path if os.path.isdir(path) else os.path.dirname(path)
    encoder = export.read_metadata(directory).get("config", {}).get("encoder")
    if not encoder:
        return ""
    keys = ("name", "stem", "width")
    described = ", ".join(f"encoder.{k}={encoder.get(k)!r}" for k in keys)
    return f" The export was trained with {described}."


def check_matches(config: ExperimentConfig, encoder: keras.Model, path: str):
    """Refuses an `encoder` whose weights do not fit `config`'s encoder.

    Raises:
        ConfigError: naming the first weight that differs, both shapes, and
            the encoder keys the export recorded.
    """
    reference = models.build_encoder(
        config.encoder, config.data.image_size, seed=config.train.seed
    )
    difference = first_difference(reference.weights, encoder.weights)
    if difference is None:
        return
    ours = config.encoder
    raise ConfigError(
        f"{KEY} {path!r} does not fit this run's encoder "
        f"(encoder.name={ours.name!r}, encoder.stem={ours.stem!r}, "
        f"encoder.width={ours.width!r}): {difference}."
        f"{_trained_with(path)} Set the `encoder.*` keys to the export's."
    )


def initial_weights(
    config: ExperimentConfig, run_directory: str, export_directory: str
) -> list[np.ndarray] | None:
    """The encoder weights a run starts from; `None` for a random init.

    Args:
        config: the validated experiment.
        run_directory: its run directory: a checkpoint there wins, and
            `encoder.init_from` is then neither loaded nor needed.
        export_directory: where the run will export its encoder, which
            must not be the one it starts from.

    Returns:
        `encoder.get_weights()` of `encoder.init_from`, for a fresh run
        with `encoder.init_from` set; `None` otherwise.

    Raises:
        ConfigError: for a missing or unreadable path, the run's own
            export, or an encoder that does not fit (`check_matches`).
    """
    path = config.encoder.init_from
    if path is None:
        return None
    saved = os.path.join(run_directory, "checkpoints")
    if checkpoints.saved_position(saved) is not None:
        logger.info(
            "%s has a checkpoint: resuming from it, not from %s.",
            run_directory,
            path,
        )
        return None
    if identity(path) == os.path.realpath(export_directory):
        raise ConfigError(
            f"{KEY} {path!r} is this run's own export directory, which the "
            "run would overwrite with the encoder it trains. Set a new "
            "`name` (or `export_dir`) for the continued run."
        )
    encoder = load(path)
    check_matches(config, encoder, path)
    return encoder.get_weights()
