"""Exporting the encoder: a verified SavedModel plus a `.keras` file.

Layout of an export directory:
    saved_model/   `serving_default`: uint8 images (any size) -> embedding;
                   `serving_bytes`: encoded JPEG/PNG strings -> embedding
                   (see `ssl_tf.export.signatures`)
    encoder.keras  the encoder alone, for fine-tuning
    export.json    image size, embedding size, fingerprint, config
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time

import keras
import numpy as np
import tensorflow as tf

from ssl_tf.export import signatures

SAVED_MODEL = "saved_model"
KERAS_FILE = "encoder.keras"
METADATA = "export.json"


class ExportError(RuntimeError):
    """An export could not be written or failed verification."""


def fingerprint(directory: str) -> str:
    """SHA-256 over the files of a directory (names and contents)."""
    digest = hashlib.sha256()
    for root, _, files in sorted(os.walk(directory)):
        for name in sorted(files):
            path = os.path.join(root, name)
            digest.update(os.path.relpath(path, directory).encode())
            with open(path, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
    return digest.hexdigest()[:16]


def _without_names(value):
    if isinstance(value, dict):
        return {
            key: _without_names(item)
            for key, item in value.items()
            if key != "name"
        }
    if isinstance(value, (list, tuple)):
        return [_without_names(item) for item in value]
    return value


def encoder_fingerprint(encoder, image_size: int) -> str:
    """SHA-256 over the encoder's weights, layer configs and image size.

    Equal for two exports of the same weights, which SavedModel files are
    not (they embed fresh object ids), so re-exporting a finished run keeps
    its feature cache and evaluation results. Layer names are left out:
    Keras numbers them per process.
    """
    digest = hashlib.sha256(f"image_size={image_size}".encode())
    for layer in encoder.layers:
        config = _without_names(layer.get_config())
        digest.update(type(layer).__name__.encode())
        digest.update(json.dumps(config, sort_keys=True, default=str).encode())
    for weight in encoder.weights:
        value = np.asarray(keras.ops.convert_to_numpy(weight))
        digest.update(f"{value.dtype}{value.shape}".encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()[:16]


def float32_encoder(encoder):
    """`encoder`, or a float32 copy of it if it computes in 16 bits.

    Exports compute in float32 whatever the training precision: serving
    hardware may lack bfloat16 units, and float32 embeddings of the same
    weights do not depend on where the model was trained. The weights are
    float32 under every Keras mixed policy, so the copy loses nothing.
    """
    if all(
        layer.compute_dtype == "float32"
        for layer in encoder.layers
        if not isinstance(layer, keras.layers.InputLayer)
    ):
        return encoder

    def clone_layer(layer):
        return layer.__class__.from_config(
            {**layer.get_config(), "dtype": "float32"}
        )

    copy = keras.models.clone_model(encoder, clone_function=clone_layer)
    copy.set_weights(encoder.get_weights())
    return copy


def export_encoder(
    encoder,
    directory: str,
    image_size: int,
    metadata: dict | None = None,
    tolerance: float = 1e-4,
) -> str:
    """Writes, verifies and atomically installs an encoder export.

    The export is written to a temporary sibling directory, reloaded, and
    its serving signature is called on a probe batch and compared with the
    in-memory encoder; only then is it renamed to `directory` (replacing an
    older export). A failed verification leaves `directory` untouched.

    A mixed-precision encoder is exported as its float32 copy
    (`float32_encoder`).

    Returns:
        `directory`.

    Raises:
        ExportError: if verification fails.
    """
    encoder = float32_encoder(encoder)
    directory = os.path.abspath(directory)
    parent = os.path.dirname(directory)
    os.makedirs(parent, exist_ok=True)
    staging = f"{directory}.tmp-{os.getpid()}-{int(time.time())}"
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    try:
        archive = keras.export.ExportArchive()
        archive.track(encoder)
        for name, fn in signatures.endpoints(encoder, image_size).items():
            archive.add_endpoint(
                name=name,
                fn=fn,
                input_signature=signatures.INPUT_SIGNATURES[name],
            )
        archive.write_out(os.path.join(staging, SAVED_MODEL), verbose=False)
        encoder.save(os.path.join(staging, KERAS_FILE))
        probe = signatures.probe_images(image_size)
        expected = signatures.serving_fn(encoder, image_size)(probe)
        expected = expected[signatures.OUTPUT].numpy()
        reloaded = tf.saved_model.load(os.path.join(staging, SAVED_MODEL))
        try:
            error = signatures.check_signatures(
                reloaded, probe, expected, tolerance
            )
        except ValueError as failure:
            raise ExportError(
                f"Exported model disagrees with the in-memory encoder: "
                f"{failure} Nothing was installed."
            ) from None
        info = {
            "image_size": image_size,
            "embedding_dim": int(expected.shape[-1]),
            "fingerprint": encoder_fingerprint(encoder, image_size),
            "verified_max_abs_difference": error,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            **(metadata or {}),
        }
        with open(os.path.join(staging, METADATA), "w") as handle:
            json.dump(info, handle, indent=2, sort_keys=True, default=str)
        _install(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return directory


def _install(staging, directory):
    """Renames `staging` to `directory`, keeping the old one until done."""
    old = None
    if os.path.exists(directory):
        old = f"{directory}.old-{os.getpid()}"
        os.replace(directory, old)
    try:
        os.replace(staging, directory)
    except BaseException:
        if old:
            os.replace(old, directory)
        raise
    if old:
        shutil.rmtree(old, ignore_errors=True)


def read_metadata(directory: str) -> dict:
    path = os.path.join(directory, METADATA)
    if not os.path.exists(path):
        return {}
    with open(path) as handle:
        return json.load(handle)


class LoadedEncoder:
    """An exported encoder: `embed(uint8 images) -> float32 embeddings`.

    Accepts an export directory, a SavedModel directory or a `.keras` file.
    `.keras` files load with Keras safe mode (no arbitrary code).
    """

    def __init__(self, path: str, image_size: int | None = None):
        self.path = path
        metadata = {}
        if os.path.isdir(path) and os.path.isdir(
            os.path.join(path, SAVED_MODEL)
        ):
            metadata = read_metadata(path)
            model_dir = os.path.join(path, SAVED_MODEL)
        else:
            model_dir = path
        self.metadata = metadata
        self.image_size = image_size or metadata.get("image_size")
        if str(path).endswith(".keras"):
            self.keras_model = keras.saving.load_model(path, safe_mode=True)
            if self.image_size is None:
                self.image_size = read_metadata(os.path.dirname(path)).get(
                    "image_size"
                )
            if self.image_size is None:
                raise ExportError(
                    f"{path}: image size unknown; pass image_size."
                )
            self._fn = tf.function(
                signatures.serving_fn(self.keras_model, self.image_size)
            )
        elif os.path.exists(os.path.join(model_dir, "saved_model.pb")):
            loaded = tf.saved_model.load(model_dir)
            self._loaded = loaded
            signature = loaded.signatures["serving_default"]
            self._fn = lambda images: signature(images=images)
        else:
            raise ExportError(
                f"{path!r} is not an ssl_tf export, SavedModel or .keras file."
            )
        self.fingerprint = metadata.get("fingerprint") or (
            fingerprint(model_dir) if os.path.isdir(model_dir) else ""
        )

    def embed(self, images) -> np.ndarray:
        images = tf.convert_to_tensor(images)
        if images.dtype != tf.uint8:
            images = tf.cast(tf.clip_by_value(images, 0, 255), tf.uint8)
        return self._fn(images)["embedding"].numpy()

    def embed_dataset(self, dataset) -> tuple[np.ndarray, np.ndarray | None]:
        """Embeddings (and labels) of a batched `{"images", "labels"}` set."""
        features, labels = [], []
        for batch in dataset:
            features.append(self.embed(batch["images"]))
            if "labels" in batch:
                labels.append(batch["labels"].numpy())
        features = np.concatenate(features)
        return features, (np.concatenate(labels) if labels else None)


def load_encoder(path: str, image_size: int | None = None) -> LoadedEncoder:
    return LoadedEncoder(path, image_size)


def load_keras_encoder(path: str) -> keras.Model:
    """The trainable `.keras` encoder of an export (safe mode)."""
    if os.path.isdir(path):
        path = os.path.join(path, KERAS_FILE)
    return keras.saving.load_model(path, safe_mode=True)
