"""Frozen features of a dataset split, computed once and cached on disk.

Every protocol starts here. Features are keyed by what determines them: the
encoder fingerprint, the dataset (source, name, data directory, or a hash of
in-memory arrays), the split, the image size and `max_examples`. A second
evaluation of the same export on the same split reads the `.npz` file
instead of running the encoder again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import tempfile

import keras
import numpy as np
import tensorflow as tf

from ssl_tf import data as data_lib

logger = logging.getLogger("ssl_tf.evaluation")

DEFAULT_CACHE_DIR = os.path.join("~", ".cache", "ssl_tf", "features")


@dataclasses.dataclass(frozen=True)
class FeatureSet:
    """Features of one split and what they were computed from.

    Args:
        features: `(n, d)` float32 embeddings.
        labels: `(n,)` int64 labels.
        description: the source's description, e.g. `tfds:cifar10/test`.
        num_classes: number of classes of the source.
        class_names: class names when the source knows them.
        cache_path: the `.npz` file read or written, or `None`.
    """

    features: np.ndarray
    labels: np.ndarray
    description: str
    num_classes: int
    class_names: tuple[str, ...] = ()
    cache_path: str | None = None


def embed_images(encoder, images, batch_size: int = 256) -> np.ndarray:
    """Embeds uint8 images with a loaded export or a Keras encoder.

    Keras encoders are called with `training=False`: batch-norm layers use
    their moving statistics and never update them, so evaluating an encoder
    leaves every weight bit-identical.

    Args:
        encoder: A `LoadedEncoder` (anything with `embed`) or a
            `keras.Model` taking float32 images in `[0, 1]`.
        images: `(n, h, w, 3)` uint8 images.
        batch_size: Integer, images per encoder call.

    Returns:
        `(n, d)` float32 embeddings.
    """
    images = np.asarray(images)
    if hasattr(encoder, "embed"):
        call = encoder.embed
    else:

        def call(batch):
            batch = tf.cast(batch, tf.float32) / 255.0
            return keras.ops.convert_to_numpy(encoder(batch, training=False))

    chunks = [
        np.asarray(call(images[start : start + batch_size]), np.float32)
        for start in range(0, len(images), batch_size)
    ]
    return np.concatenate(chunks)


def source_arrays(source, batch_size: int = 1024):
    """`(uint8 images, int64 labels)` of an unbatched `{"images", "labels"}`
    dataset, in its order."""
    images, labels = [], []
    for batch in data_lib.eval_dataset(source, batch_size):
        images.append(batch["images"].numpy())
        labels.append(batch["labels"].numpy())
    return np.concatenate(images), np.concatenate(labels).astype(np.int64)


def _dataset_identity(data_config, arrays):
    identity = {
        "source": data_config.source,
        "name": data_config.name,
        "data_dir": data_config.data_dir,
    }
    if arrays is not None:
        # The arrays' shape says nothing about their content: hash it.
        digest = hashlib.sha256()
        for array in arrays:
            if array is not None:
                digest.update(np.ascontiguousarray(array).tobytes())
        identity["arrays_sha256"] = digest.hexdigest()
    return identity


def cache_key(
    fingerprint, data_config, split, image_size, max_examples, arrays=None
) -> str:
    """The cache file stem for one (encoder, dataset, split) combination."""
    key = {
        "fingerprint": fingerprint,
        "dataset": _dataset_identity(data_config, arrays),
        "split": split,
        "image_size": image_size,
        "max_examples": max_examples,
    }
    text = json.dumps(key, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _read_cache(path):
    with np.load(path, allow_pickle=False) as stored:
        info = json.loads(str(stored["info"]))
        return FeatureSet(
            features=stored["features"],
            labels=stored["labels"],
            description=info["description"],
            num_classes=info["num_classes"],
            class_names=tuple(info["class_names"]),
            cache_path=path,
        )


def _write_cache(path, feature_set):
    info = {
        "description": feature_set.description,
        "num_classes": feature_set.num_classes,
        "class_names": list(feature_set.class_names),
    }
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    # Write then rename, so a concurrent reader never sees half a file.
    handle, staging = tempfile.mkstemp(suffix=".npz", dir=directory)
    try:
        with os.fdopen(handle, "wb") as stream:
            np.savez(
                stream,
                features=feature_set.features,
                labels=feature_set.labels,
                info=np.array(json.dumps(info)),
            )
        os.replace(staging, path)
    except BaseException:
        if os.path.exists(staging):
            os.remove(staging)
        raise


def load_features(
    encoder,
    data_config,
    split: str,
    max_examples: int | None = None,
    batch_size: int = 256,
    cache_dir: str | None = None,
    use_cache: bool = True,
    arrays=None,
) -> FeatureSet:
    """Like `extract_features`, but also returns what the source reported.

    Args:
        encoder: A `LoadedEncoder` (from `ssl_tf.export.load_encoder`).
        data_config: An `ssl_tf.config.DataConfig`.
        split: The split to embed, e.g. `"train"` or `"test"`.
        max_examples: Integer, embed only the first this many examples.
        batch_size: Integer, images per encoder call.
        cache_dir: Directory of the `.npz` cache. Defaults to
            `~/.cache/ssl_tf/features`.
        use_cache: Boolean, `False` neither reads nor writes the cache.
        arrays: `(images, labels)` when `data_config.source == "arrays"`.

    Returns:
        A `FeatureSet`.

    Raises:
        ValueError: if the split has no labels.
    """
    if encoder.image_size:
        # Transfer: images of another size are resized to what the encoder
        # was trained on (the source also expands grayscale to RGB).
        data_config = dataclasses.replace(
            data_config, image_size=int(encoder.image_size)
        )
    image_size = data_config.image_size
    path = None
    if use_cache and encoder.fingerprint:
        stem = cache_key(
            encoder.fingerprint,
            data_config,
            split,
            image_size,
            max_examples,
            arrays,
        )
        directory = os.path.expanduser(cache_dir or DEFAULT_CACHE_DIR)
        path = os.path.join(directory, f"{stem}.npz")
        if os.path.exists(path):
            logger.info("Reading cached features from %s", path)
            return _read_cache(path)
    elif use_cache:
        logger.warning("Encoder has no fingerprint; features are not cached.")
    source, info = data_lib.load_source(data_config, split, arrays=arrays)
    if max_examples is not None:
        source = source.take(max_examples)
    features, labels = encoder.embed_dataset(
        data_lib.eval_dataset(source, batch_size)
    )
    if labels is None:
        raise ValueError(
            f"{info.description} has no labels; evaluation needs labels."
        )
    labels = labels.astype(np.int64)
    num_classes = info.num_classes or int(labels.max()) + 1
    feature_set = FeatureSet(
        features=features.astype(np.float32),
        labels=labels,
        description=info.description,
        num_classes=int(num_classes),
        class_names=tuple(info.class_names),
        cache_path=path,
    )
    if path:
        _write_cache(path, feature_set)
        logger.info("Cached %d features in %s", len(labels), path)
    return feature_set


def extract_features(
    encoder, data_config, split: str, *args, **kwargs
) -> tuple[np.ndarray, np.ndarray]:
    """Frozen embeddings and labels of one split, cached on disk.

    Images are resized to the encoder's image size (and grayscale expanded
    to RGB) so an encoder can be evaluated on another dataset. The cache
    is keyed by the encoder fingerprint, the dataset, `split`, the image
    size and `max_examples`; delete it after changing files in a folder
    or TFRecord source in place.

    Args:
        encoder: A `LoadedEncoder` (from `ssl_tf.export.load_encoder`).
        data_config: An `ssl_tf.config.DataConfig`.
        split: The split to embed.
        *args: `max_examples`, `batch_size`, `cache_dir`, ... as for
            `load_features`.
        **kwargs: The same, by name.

    Returns:
        `(features, labels)`: `(n, d)` float32 and `(n,)` int64 arrays.
    """
    feature_set = load_features(encoder, data_config, split, *args, **kwargs)
    return feature_set.features, feature_set.labels
