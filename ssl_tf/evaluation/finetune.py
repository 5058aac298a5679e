"""Fine-tuning an encoder (or a random-init baseline) with a new head.

The backbone learns more slowly than the new head: backbone gradients are
multiplied by `backbone_lr / head_lr` before an SGD-with-momentum step at
`head_lr`. For SGD (momentum buffers are linear in the gradients) this is
exactly a separate learning rate; it would not be for Adam, whose update
ignores the gradient scale, so the optimizer is fixed to SGD.
"""

from __future__ import annotations

import logging

import keras
import numpy as np
import tensorflow as tf

from ssl_tf import augment, export
from ssl_tf.evaluation.metrics import accuracy_metrics
from ssl_tf.evaluation.subsets import balanced_subset

logger = logging.getLogger("ssl_tf.evaluation")


def crop_flip_augmentation(image_size, seed=None, padding: int = 4):
    """Zero-pad by `padding`, random crop back to size, horizontal flip.

    Every image gets its own crop offset and flip (Keras 3's `RandomCrop`
    would shift the whole batch by one offset).
    """
    height, width = image_size
    return keras.Sequential(
        [
            augment.RandomCrop(height, width, padding, seed=seed),
            augment.RandomFlip(seed=seed),
        ],
        name="augmentation",
    )


class FineTuneClassifier(keras.Model):
    """`encoder` + a new `Dense` head, the backbone at a scaled LR.

    Augmentation runs only in `train_step`, never on test images.

    Args:
        encoder: `keras.Model` from float32 `[0, 1]` images to embeddings.
        num_classes: Integer, outputs of the head (logits).
        backbone_lr_scale: Float, backbone LR as a fraction of the head LR.
        weight_decay: Float, L2 on kernels, added to the gradient before
            scaling (so a frozen backbone is not decayed either).
        augmentation: Layer applied to training batches, or `None`.
        seed: Integer seed of the head initialiser.
    """

    def __init__(
        self,
        encoder,
        num_classes,
        backbone_lr_scale=0.1,
        weight_decay=0.0,
        augmentation=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.num_classes = num_classes
        self.backbone_lr_scale = backbone_lr_scale
        self.weight_decay = weight_decay
        self.augmentation = augmentation
        # Normalises features before the new head: pretrained encoders can
        # emit features of any scale, and an unnormalised head at the head's
        # learning rate then diverges in its first steps.
        self.feature_norm = keras.layers.BatchNormalization(
            center=False, scale=False, name="feature_norm"
        )
        self.head = keras.layers.Dense(
            num_classes,
            kernel_initializer=keras.initializers.GlorotUniform(seed),
            name="head",
        )
        self.cross_entropy = keras.losses.SparseCategoricalCrossentropy(
            from_logits=True
        )
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")

    @property
    def metrics(self):
        return [self.loss_tracker, self.accuracy]

    def call(self, images, training=False):
        features = self.encoder(images, training=training)
        return self.head(self.feature_norm(features, training=training))

    def train_step(self, data):
        images, labels = data
        if self.augmentation is not None:
            images = self.augmentation(images, training=True)
        with tf.GradientTape() as tape:
            logits = self(images, training=True)
            loss = self.cross_entropy(labels, logits)
            if self.losses:
                loss = loss + tf.add_n(self.losses)
        variables = self.trainable_variables
        gradients = tape.gradient(loss, variables)
        backbone = {id(v) for v in self.encoder.trainable_variables}
        updates = []
        for variable, gradient in zip(variables, gradients, strict=True):
            if gradient is None:
                updates.append(gradient)
                continue
            if self.weight_decay and len(variable.shape) >= 2:
                gradient = gradient + self.weight_decay * variable
            if id(variable) in backbone:
                gradient = gradient * self.backbone_lr_scale
            updates.append(gradient)
        self.optimizer.apply(updates, variables)
        self.loss_tracker.update_state(loss)
        self.accuracy.update_state(labels, logits)
        return {metric.name: metric.result() for metric in self.metrics}


# Batches averaged by `recalibrate_batch_norm`.
RECALIBRATION_BATCHES = 50


def recalibrate_batch_norm(
    model, images, batch_size=128, max_batches=RECALIBRATION_BATCHES
):
    """Sets every BN layer's moving statistics to their mean over batches.

    After a short fine-tune the moving averages (momentum 0.99) still hold
    mostly the pretraining data's statistics: with 1% of labels that is
    50 steps, which moves them only ~40% of the way. Test-time BN then
    normalises with the wrong statistics. "Precise BN" recomputes them as
    the plain average over up to `max_batches` batches of `images` in
    training mode; weights are not touched.

    Args:
        model: a `keras.Model`; its nested BN layers are all recalibrated.
        images: float32 `[0, 1]` images (the un-augmented training set).
        batch_size: Integer, images per forward pass.
        max_batches: Integer, at most this many batches are averaged.

    Reference:
     - [Wu & Johnson, 2021](https://arxiv.org/abs/2105.07576), sec. 3
    """
    layers = [
        layer
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    if not layers:
        return
    momenta = [layer.momentum for layer in layers]
    try:
        count = min(max_batches, int(np.ceil(len(images) / batch_size)))
        for index in range(count):
            batch = images[index * batch_size : (index + 1) * batch_size]
            # Momentum k/(k+1) makes the moving value the running mean of
            # the k+1 batch statistics seen so far.
            for layer in layers:
                layer.momentum = index / (index + 1)
            model(tf.convert_to_tensor(batch), training=True)
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum


def _as_arrays(data):
    """`(images, labels)` from a tuple or an unbatched tf.data dataset."""
    if isinstance(data, tf.data.Dataset):
        images, labels = [], []
        for batch in data.batch(1024):
            images.append(batch["images"].numpy())
            labels.append(batch["labels"].numpy())
        return np.concatenate(images), np.concatenate(labels).astype(np.int64)
    images, labels = data
    return np.asarray(images), np.asarray(labels, np.int64)


def _to_float(images, labels):
    return tf.cast(images, tf.float32) / 255.0, labels


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
    train_images, train_labels = _as_arrays(train_data)
    test_images, test_labels = _as_arrays(test_data)
    if label_fraction < 1:
        keep = balanced_subset(train_labels, label_fraction, seed)
        train_images, train_labels = train_images[keep], train_labels[keep]
    if isinstance(encoder, str):
        encoder = export.load_keras_encoder(encoder)
    elif encoder is None:
        if encoder_config is None:
            raise ValueError("`encoder=None` needs an `encoder_config`.")
        # Imported here: a random-init baseline is the only user of models.
        from ssl_tf.models import build_encoder

        size = image_size or int(train_images.shape[1])
        encoder = build_encoder(encoder_config, size, seed=seed)
    augmentation = None
    if augment:
        augmentation = crop_flip_augmentation(train_images.shape[1:3], seed)
    model = FineTuneClassifier(
        encoder,
        num_classes,
        backbone_lr_scale=backbone_lr / head_lr,
        weight_decay=weight_decay,
        augmentation=augmentation,
        seed=seed,
    )
    steps = epochs * int(np.ceil(len(train_labels) / batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(head_lr, max(steps, 1))
    model.compile(
        optimizer=keras.optimizers.SGD(
            schedule, momentum=momentum, nesterov=True
        )
    )
    train = (
        tf.data.Dataset.from_tensor_slices((train_images, train_labels))
        .shuffle(len(train_labels), seed=seed)
        .batch(batch_size)
        .map(_to_float, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )
    # The dataset is already shuffled with `seed`.
    history = model.fit(train, epochs=epochs, shuffle=False, verbose=verbose)
    if recalibrate_bn:
        # Only the images it averages over are converted to float.
        used = train_images[: RECALIBRATION_BATCHES * batch_size]
        recalibrate_batch_norm(
            model, used.astype(np.float32) / 255.0, batch_size
        )
    test = (
        tf.data.Dataset.from_tensor_slices(test_images)
        .batch(256)
        .map(lambda images: tf.cast(images, tf.float32) / 255.0)
    )
    logits = model.predict(test, verbose=0)
    return {
        **accuracy_metrics(logits, test_labels),
        "train_top1": float(history.history["accuracy"][-1]),
        "train_loss": float(history.history["loss"][-1]),
        "train_examples": int(len(train_labels)),
        "test_examples": int(len(test_labels)),
    }
