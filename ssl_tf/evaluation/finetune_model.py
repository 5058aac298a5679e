"""The fine-tuning model: an encoder with a new head, and precise BN.

The backbone learns more slowly than the new head: backbone gradients are
multiplied by `backbone_lr / head_lr` before an SGD-with-momentum step at
`head_lr`. For SGD (momentum buffers are linear in the gradients) this is
exactly a separate learning rate; it would not be for Adam, whose update
ignores the gradient scale, so the optimizer is fixed to SGD.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from ssl_tf import augment


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
