"""`Pusher`: installs a blessed model as a TF Serving version (TFX's Pusher).

Layout: `<push_destination>/<version>/` holds the SavedModel (signatures
`serving_default` and `serving_bytes`), `export.json` and `model_card.md`;
versions are integers, the next one is the largest plus one. A version is
written to a hidden staging directory beside them (TF Serving only loads
integer directories), loaded afresh and checked on a probe batch, then
renamed into place: on one filesystem the rename is atomic, so a reader
never sees half a version, and a push killed before it leaves only a
staging directory, which versioning ignores. (Object stores such as GCS
have no atomic rename; `tf.io.gfile` copies there, so a server should
watch for `saved_model.pb`, which is copied with the rest.)
"""

from __future__ import annotations

import json
import os
import uuid

import tensorflow as tf

import ssl_tf
from components import model_card
from components.component import (
    InputArtifact,
    OutputArtifact,
    Parameter,
    component,
)
from components.types import Model, ModelBlessing, PushedModel

STAGING_PREFIX = ".staging-"
EXPORT_FILE = "export.json"  # the export's metadata, kept with each version
TOLERANCE = 1e-5
_RENAME_ATTEMPTS = 5


def versions(destination: str) -> list[int]:
    """The integer version directories under `destination`, ascending."""
    if not tf.io.gfile.isdir(destination):
        return []
    names = (name.rstrip("/") for name in tf.io.gfile.listdir(destination))
    return sorted(int(name) for name in names if name.isdigit())


def _copy_tree(source: str, target: str) -> None:
    for directory, _, files in tf.io.gfile.walk(source):
        relative = directory[len(source) :].strip("/")
        out = os.path.join(target, relative) if relative else target
        tf.io.gfile.makedirs(out)
        for name in files:
            tf.io.gfile.copy(
                os.path.join(directory, name), os.path.join(out, name)
            )


def _read_json(path: str) -> dict:
    if not tf.io.gfile.exists(path):
        return {}
    with tf.io.gfile.GFile(path) as handle:
        return json.load(handle)


def _check_staged(model_uri: str, staging: str, image_size: int) -> None:
    """Both signatures of the staged copy, loaded afresh, must give the
    pushed model's embeddings of a probe batch."""
    signatures = ssl_tf.export.signatures
    probe = signatures.probe_images(image_size)
    source = tf.saved_model.load(os.path.join(model_uri, "saved_model"))
    expected = source.signatures[signatures.SERVING_DEFAULT](
        **{signatures.IMAGES_INPUT: tf.constant(probe)}
    )[signatures.OUTPUT].numpy()
    try:
        signatures.check_signatures(
            tf.saved_model.load(staging), probe, expected, TOLERANCE
        )
    except ValueError as error:
        raise RuntimeError(f"Staged push {staging} failed: {error}") from None


def _install(staging: str, destination: str) -> int:
    """Renames `staging` to the next free version; returns the version."""
    for _ in range(_RENAME_ATTEMPTS):
        version = (versions(destination) or [0])[-1] + 1
        target = os.path.join(destination, str(version))
        try:
            # overwrite=False: a concurrent push that took this number first
            # makes the rename fail instead of mixing two models.
            tf.io.gfile.rename(staging, target)
            return version
        except tf.errors.OpError:
            if not tf.io.gfile.exists(target):
                raise
    raise RuntimeError(
        f"Could not claim a version under {destination} after "
        f"{_RENAME_ATTEMPTS} attempts (concurrent pushes?)."
    )


def _stage(model: Model, blessing: ModelBlessing, staging: str) -> int:
    """Writes the version's files to `staging`; returns the image size."""
    metadata = _read_json(os.path.join(model.uri, EXPORT_FILE))
    _copy_tree(os.path.join(model.uri, "saved_model"), staging)
    tf.io.gfile.copy(
        os.path.join(model.uri, EXPORT_FILE),
        os.path.join(staging, EXPORT_FILE),
    )
    card = model_card.render(model, blessing, metadata)
    path = os.path.join(staging, model_card.FILE_NAME)
    with tf.io.gfile.GFile(path, "w") as handle:
        handle.write(card)
    return int(metadata["image_size"])


def push(model: Model, blessing: ModelBlessing, destination: str) -> int:
    """Stages, checks and installs `model`; returns its version."""
    staging = os.path.join(destination, f"{STAGING_PREFIX}{uuid.uuid4().hex}")
    try:
        image_size = _stage(model, blessing, staging)
        _check_staged(model.uri, staging, image_size)
        return _install(staging, destination)
    except BaseException:
        # Best effort: a killed process leaves its staging directory, which
        # is hidden from TF Serving and ignored by `versions`.
        if tf.io.gfile.exists(staging):
            tf.io.gfile.rmtree(staging)
        raise


def _check_inputs(model, blessing, model_name) -> None:
    if not model_name or "/" in model_name or model_name.startswith("."):
        raise ValueError(
            f"`model_name` must be a plain directory name. Received: "
            f"model_name={model_name!r}"
        )
    judged = blessing.properties.get("model_uri")
    if judged is not None and judged != model.uri:
        raise ValueError(
            f"The blessing judged {judged}, not the model to push "
            f"({model.uri}): wire both from the same Evaluator."
        )
    if not tf.io.gfile.exists(os.path.join(model.uri, EXPORT_FILE)):
        raise ValueError(f"{model.uri} is not an ssl_tf export.")


@component
def Pusher(
    model: InputArtifact[Model],
    blessing: InputArtifact[ModelBlessing],
    pushed_model: OutputArtifact[PushedModel],
    model_name: Parameter[str] = "encoder",
    push_destination: Parameter[str] = "",
) -> None:
    """Pushes `model` to `push_destination/<version>/` if it is blessed.

    `push_destination` defaults to `saved_models/<model_name>`. An
    unblessed model is recorded as `pushed=False` with the blessing's
    reason, and nothing is written under the destination.
    """
    _check_inputs(model, blessing, model_name)
    destination = push_destination or os.path.join("saved_models", model_name)
    blessed = blessing.blessed and tf.io.gfile.exists(
        os.path.join(blessing.uri, ModelBlessing.BLESSED_FILE)
    )
    record = {
        "pushed": blessed,
        "destination": destination,
        "version": None,
        "reason": blessing.properties.get("reason", ""),
        "model_uri": model.uri,
    }
    if blessed:
        record["version"] = push(model, blessing, destination)
        record["version_uri"] = os.path.join(
            destination, str(record["version"])
        )
    elif blessing.blessed:
        marker = ModelBlessing.BLESSED_FILE
        record["reason"] = f"no {marker} file in {blessing.uri}"
    pushed_model.properties.update(record)
    path = os.path.join(pushed_model.uri, PushedModel.RECORD_FILE)
    with tf.io.gfile.GFile(path, "w") as handle:
        json.dump(record, handle, indent=2, sort_keys=True)
