"""Fine-tuning an encoder (or a random-init baseline) with a new head.

The model and its learning-rate split are in
`ssl_tf.evaluation.finetune_model`; this module prepares the data, trains,
scores and registers the `finetune` protocol.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from ssl_tf import config as config_lib
from ssl_tf import export
from ssl_tf.evaluation import base
from ssl_tf.evaluation.features import source_arrays
from ssl_tf.evaluation.finetune_model import (
    RECALIBRATION_BATCHES,
    FineTuneClassifier,
    crop_flip_augmentation,
    recalibrate_batch_norm,
)
from ssl_tf.evaluation.metrics import accuracy_metrics
from ssl_tf.evaluation.subsets import balanced_subset

__all__ = [
    "FineTuneClassifier",
    "FineTuneOptions",
    "crop_flip_augmentation",
    "finetune",
    "recalibrate_batch_norm",
]


def _as_arrays(data):
    """`(images, labels)` from a tuple or an unbatched tf.data dataset."""
    if isinstance(data, tf.data.Dataset):
        return source_arrays(data)
    images, labels = data
    return np.asarray(images), np.asarray(labels, np.int64)


def _to_float(images, labels):
    return tf.cast(images, tf.float32) / 255.0, labels


def _make_encoder(encoder, encoder_config, image_size, train_images, seed):
    """A Keras encoder from a path, a model, or a random-init config."""
    if isinstance(encoder, str):
        return export.load_keras_encoder(encoder)
    if encoder is not None:
        return encoder
    if encoder_config is None:
        raise ValueError("`encoder=None` needs an `encoder_config`.")
    # Imported here: a random-init baseline is the only user of models.
    from ssl_tf.models import build_encoder

    size = image_size or int(train_images.shape[1])
    return build_encoder(encoder_config, size, seed=seed)


def _compiled_model(encoder, num_classes, image_shape, steps, seed, **hyper):
    """The `FineTuneClassifier` compiled with cosine-decayed Nesterov SGD.

    `hyper`: `augment`, `backbone_lr`, `head_lr`, `momentum` and
    `weight_decay` of `finetune`.
    """
    augmentation = None
    if hyper["augment"]:
        augmentation = crop_flip_augmentation(image_shape, seed)
    model = FineTuneClassifier(
        encoder,
        num_classes,
        backbone_lr_scale=hyper["backbone_lr"] / hyper["head_lr"],
        weight_decay=hyper["weight_decay"],
        augmentation=augmentation,
        seed=seed,
    )
    schedule = keras.optimizers.schedules.CosineDecay(
        hyper["head_lr"], max(steps, 1)
    )
    model.compile(
        optimizer=keras.optimizers.SGD(
            schedule, momentum=hyper["momentum"], nesterov=True
        )
    )
    return model


def _labelled_arrays(train_data, test_data, label_fraction, seed):
    """Train and test `(images, labels)`, train cut to `label_fraction`."""
    train_images, train_labels = _as_arrays(train_data)
    if label_fraction < 1:
        keep = balanced_subset(train_labels, label_fraction, seed)
        train_images, train_labels = train_images[keep], train_labels[keep]
    return (train_images, train_labels), _as_arrays(test_data)


def _fit(model, train_images, train_labels, epochs, batch_size, seed, verbose):
    """Trains `model`; returns the Keras `History`."""
    train = (
        tf.data.Dataset.from_tensor_slices((train_images, train_labels))
        .shuffle(len(train_labels), seed=seed)
        .batch(batch_size)
        .map(_to_float, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )
    # The dataset is already shuffled with `seed`.
    return model.fit(train, epochs=epochs, shuffle=False, verbose=verbose)


def _test_logits(model, test_images):
    test = (
        tf.data.Dataset.from_tensor_slices(test_images)
        .batch(256)
        .map(lambda images: tf.cast(images, tf.float32) / 255.0)
    )
    return model.predict(test, verbose=0)


def finetune(
    encoder,
    train_data,
    test_data,
    num_classes: int,
    *,
    encoder_config=None,
    image_size: int | None = None,
    epochs: int = 10,
    batch_size: int = 128,
    backbone_lr: float = 0.01,
    head_lr: float = 0.1,
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
    label_fraction: float = 1.0,
    augment: bool = True,
    recalibrate_bn: bool = True,
    seed: int = 0,
    verbose: int = 0,
) -> dict:
    """Fine-tunes an encoder with a new linear head and scores it on test.

    Args:
        encoder: Path of an export or `.keras` file, a `keras.Model` (trained
            in place), or `None` for a random-init encoder built from
            `encoder_config` by `ssl_tf.models.build_encoder`.
        train_data: `(uint8 images, labels)` arrays, or an unbatched
            `tf.data.Dataset` of `{"images", "labels"}`.
        test_data: Same forms as `train_data`.
        num_classes: Integer, number of classes.
        encoder_config: An `ssl_tf.config.EncoderConfig`, for `encoder=None`.
        image_size: Integer, image side for `build_encoder` (default: the
            training images' side).
        epochs: Integer, passes over the (labelled subset of the) train set.
        batch_size: Integer, training batch size.
        backbone_lr: Float, peak learning rate of the encoder.
        head_lr: Float, peak learning rate of the head (cosine decay).
        momentum: Float, SGD (Nesterov) momentum.
        weight_decay: Float, L2 strength on kernels.
        label_fraction: Float in `(0, 1]`, class-balanced fraction of the
            training labels used (see `balanced_subset`).
        augment: Boolean, random crop (padding 4) and horizontal flip.
        recalibrate_bn: Boolean, recompute BN statistics on the training
            images after fine-tuning (`recalibrate_batch_norm`).
        seed: Integer seed of the subset, shuffling, head and augmentation.
        verbose: Keras `fit` verbosity.

    Returns:
        A dict with `top1`, `top5` (only for more than 5 classes),
        `train_top1`, `train_loss` (last epoch), `train_examples` and
        `test_examples`.
    """
    if head_lr <= 0 or backbone_lr < 0:
        raise ValueError(
            "`head_lr` must be positive and `backbone_lr` non-negative. "
            f"Received: head_lr={head_lr}, backbone_lr={backbone_lr}"
        )
    (train_images, train_labels), (test_images, test_labels) = _labelled_arrays(
        train_data, test_data, label_fraction, seed
    )
    encoder = _make_encoder(
        encoder, encoder_config, image_size, train_images, seed
    )
    model = _compiled_model(
        encoder,
        num_classes,
        train_images.shape[1:3],
        epochs * int(np.ceil(len(train_labels) / batch_size)),
        seed,
        augment=augment,
        backbone_lr=backbone_lr,
        head_lr=head_lr,
        momentum=momentum,
        weight_decay=weight_decay,
    )
    history = _fit(
        model, train_images, train_labels, epochs, batch_size, seed, verbose
    )
    if recalibrate_bn:
        # Only the images it averages over are converted to float.
        used = train_images[: RECALIBRATION_BATCHES * batch_size]
        recalibrate_batch_norm(
            model, used.astype(np.float32) / 255.0, batch_size
        )
    return {
        **accuracy_metrics(_test_logits(model, test_images), test_labels),
        "train_top1": float(history.history["accuracy"][-1]),
        "train_loss": float(history.history["loss"][-1]),
        "train_examples": int(len(train_labels)),
        "test_examples": int(len(test_labels)),
    }


@dataclasses.dataclass(frozen=True)
class FineTuneOptions(base.ProtocolOptions):
    """Options of the `finetune` protocol (and the shared ones).

    `batch_size` is the training batch here. See `finetune` for the
    others; `random_init` builds the encoder from `encoder`
    (`EncoderConfig` fields) instead of loading one, and `model_path` may
    then be `None`.
    """

    batch_size: int = 128
    epochs: int = 10
    backbone_lr: float = 0.01
    head_lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_fraction: float = 1.0
    augment: bool = True
    recalibrate_bn: bool = True
    random_init: bool = False
    encoder: dict = dataclasses.field(default_factory=dict)

    def needs_model(self) -> bool:
        return not self.random_init


_HYPERPARAMETERS = (
    "epochs",
    "batch_size",
    "backbone_lr",
    "head_lr",
    "momentum",
    "weight_decay",
    "label_fraction",
    "augment",
    "recalibrate_bn",
    "seed",
)


@base.register_protocol("finetune", FineTuneOptions)
def finetune_protocol(context, options) -> base.ProtocolResult:
    """Fine-tunes the encoder (or a random init) with a new linear head."""
    encoder_config, model_path, metadata = None, context.model_path, {}
    if options.random_init:
        encoder_config = config_lib.EncoderConfig(**options.encoder)
        model_path = None
    else:
        metadata = context.metadata
    image_size = base.image_size_of(
        options, metadata, context.requested_data_config
    )
    data_config = dataclasses.replace(
        context.requested_data_config, image_size=image_size
    )
    (train, train_info), (test, test_info) = (
        context.source(which, data_config, context.max_examples(which) or None)
        for which in ("train", "test")
    )
    metrics = finetune(
        model_path,
        train,
        test,
        train_info.num_classes or test_info.num_classes,
        encoder_config=encoder_config,
        image_size=image_size,
        **{key: getattr(options, key) for key in _HYPERPARAMETERS},
    )
    metrics["label_fraction"] = options.label_fraction
    return base.ProtocolResult(
        metrics=metrics,
        sizes={w: metrics[f"{w}_examples"] for w in ("train", "test")},
        train_description=train_info.description,
        test_description=test_info.description,
        model=model_path or f"random-init:{encoder_config.name}",
        fingerprint=metadata.get("fingerprint", ""),
        data_config=data_config,
    )
