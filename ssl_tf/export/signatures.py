"""The serving signatures of an encoder export and their probe check.

- `serving_default`: a batch of uint8 images `(n, h, w, 3)` (any size).
- `serving_bytes`: a batch of encoded JPEG/PNG/GIF/BMP strings `(n,)`, the
  input TF Serving's REST clients send (base64 in `{"b64": ...}`; the
  input name ends in `_bytes`, the convention serving front ends use for
  binary inputs). Each string is decoded and resized on its own, so one
  request may mix sizes; from there both signatures run the same graph.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

SERVING_DEFAULT = "serving_default"
SERVING_BYTES = "serving_bytes"
IMAGES_INPUT = "images"
BYTES_INPUT = "image_bytes"
OUTPUT = "embedding"

INPUT_SIGNATURES = {
    SERVING_DEFAULT: [
        tf.TensorSpec([None, None, None, 3], tf.uint8, name=IMAGES_INPUT)
    ],
    SERVING_BYTES: [tf.TensorSpec([None], tf.string, name=BYTES_INPUT)],
}


def _resize(images, image_size):
    """uint8 image(s) -> float32 pixels at `image_size`, still in [0, 255]."""
    return tf.image.resize(
        tf.cast(images, tf.float32), (image_size, image_size), antialias=True
    )


def _embed(encoder, resized):
    images = tf.clip_by_value(resized, 0.0, 255.0) / 255.0
    embedding = encoder(images, training=False)
    return {OUTPUT: tf.cast(embedding, tf.float32)}


def serving_fn(encoder, image_size):
    """uint8 images -> `{"embedding": float32}`; resizes in the graph."""

    def serve(images):
        # Resize inside the signature so callers can send any size.
        return _embed(encoder, _resize(images, image_size))

    return serve


def serving_bytes_fn(encoder, image_size):
    """Encoded image strings -> `{"embedding": float32}`."""

    def decode(data):
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
        # Resizing one image equals resizing it inside a batch, so these
        # pixels are exactly those `serving_default` computes.
        return _resize(image, image_size)

    def serve(image_bytes):
        resized = tf.map_fn(
            decode,
            image_bytes,
            fn_output_signature=tf.TensorSpec(
                [image_size, image_size, 3], tf.float32
            ),
        )
        return _embed(encoder, resized)

    return serve


def endpoints(encoder, image_size):
    """Signature name -> serving function, as `ExportArchive` endpoints."""
    return {
        SERVING_DEFAULT: serving_fn(encoder, image_size),
        SERVING_BYTES: serving_bytes_fn(encoder, image_size),
    }


def probe_images(image_size, seed=0):
    """A seeded batch of 4 uint8 images to check an export with."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (4, image_size, image_size, 3), np.uint8)


def encode_png(images) -> np.ndarray:
    """uint8 images `(n, h, w, 3)` -> `(n,)` PNG strings (lossless)."""
    return np.array(
        [tf.io.encode_png(image).numpy() for image in images], dtype=object
    )


def check_signatures(loaded, images, expected, tolerance: float) -> float:
    """Calls both signatures of `loaded` on `images`; checks they agree.

    Args:
        loaded: a `tf.saved_model.load` result.
        images: uint8 probe images.
        expected: `(n, d)` embeddings the images must get.
        tolerance: the most absolute difference allowed, relative to the
            largest expected value (or 1, if that is smaller).

    Returns:
        The largest absolute difference of either signature.

    Raises:
        ValueError: naming the signature that is missing or disagrees.
    """
    expected = np.asarray(expected)
    calls = {
        SERVING_DEFAULT: {IMAGES_INPUT: tf.constant(images)},
        SERVING_BYTES: {BYTES_INPUT: tf.constant(encode_png(images))},
    }
    scale = max(float(np.max(np.abs(expected), initial=0.0)), 1.0)
    worst = 0.0
    for name, inputs in calls.items():
        if name not in loaded.signatures:
            raise ValueError(
                f"The SavedModel has no {name!r} signature. Found: "
                f"{sorted(loaded.signatures)}"
            )
        got = loaded.signatures[name](**inputs)[OUTPUT].numpy()
        error = (
            float(np.max(np.abs(got - expected)))
            if got.shape == expected.shape
            else float("inf")
        )
        if not np.isfinite(error) or error > tolerance * scale:
            raise ValueError(
                f"Signature {name!r} disagrees with the expected embeddings "
                f"(shape {got.shape} vs {expected.shape}, max abs difference "
                f"{error:g})."
            )
        worst = max(worst, error)
    return worst
