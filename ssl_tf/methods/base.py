"""`SSLModel` (the one train_step) and the method registry."""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf

from ssl_tf import augment, registry
from ssl_tf.config import make_method_config


@dataclasses.dataclass(frozen=True)
class MethodConfig:
    """Base of every method's config dataclass."""

    def validate(self, experiment) -> None:
        """Checks values against the whole experiment; raises ConfigError."""
        del experiment


def register_method(name: str, config_cls: type):
    """Class decorator adding an `SSLModel` subclass to the registry.

    Raises:
        KeyError: if `name` is already registered.
    """

    def decorator(cls):
        registry.METHODS.register(name, cls)
        cls.method_name = name
        cls.config_cls = config_cls
        return cls

    return decorator


def unregister_method(name: str) -> None:
    """Removes a method (for tests that register throwaway methods)."""
    registry.METHODS.unregister(name)


def get_method(name: str) -> type:
    """The registered `SSLModel` subclass; `ConfigError` if unknown."""
    return registry.METHODS.get(name)


def list_methods() -> list[str]:
    return registry.METHODS.names()


class SSLModel(keras.Model):
    """Encoder + method heads, trained by one shared `train_step`.

    A method subclass provides `make_views` (its augmentation), and
    `compute_ssl_loss` (its loss on one batch of views); methods with state
    outside the gradient (MoCo's key encoder and queue) update it in
    `after_train_step`.

    Args:
        encoder: The backbone `keras.Model`; this is what gets exported.
        config: The method's config dataclass.
        views: Optional augmentation layer applied at the top of
            `train_step` (augmentation on the device); `None` when the
            data pipeline already produced the views.
        seed: Integer seed for device-side augmentation.
    """

    needs_labels = False

    def __init__(self, encoder, config, views=None, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.method_config = config
        self.views = views
        self.seed = seed
        self.loss_tracker = keras.metrics.Mean(name="loss")

    @staticmethod
    def make_views(augment_config, image_size, seed=None, method_config=None):
        """The layer turning `{"images": uint8 batch}` into loss inputs."""
        raise NotImplementedError

    @classmethod
    def views_for(cls, experiment):
        """`make_views` for an `ExperimentConfig`."""
        return cls.make_views(
            experiment.augment,
            experiment.data.image_size,
            experiment.train.seed,
            method_config=make_method_config(
                experiment.method, experiment.method_options
            ),
        )

    def compute_ssl_loss(self, inputs, training):
        """The scalar loss of one (per-replica) batch of views."""
        raise NotImplementedError

    def after_train_step(self, inputs):
        """State updates after the optimizer step (EMA, queues)."""

    def call(self, images, training=False):
        return self.encoder(images, training=training)

    def build_from_batch(self, inputs):
        """Creates every variable by running the loss once, untrained."""
        self.compute_ssl_loss(inputs, training=False)
        for metric in self.metrics:
            metric.reset_state()
        self.built = True

    def train_step(self, data):
        if self.views is not None:
            # Each replica augments its rows of the global batch with those
            # rows' own parameters (as one device would), not a copy of
            # replica 0's.
            seed = augment.batch_seed(self.seed, self.optimizer.iterations)
            data = self.views(data, seed=augment.replica_seed(seed))
        with tf.GradientTape() as tape:
            # Losses use the "sum_over_batch_size" reduction, which Keras
            # already divides by the replica count under tf.distribute.
            loss = self.compute_ssl_loss(data, training=True)
            scaled = self.optimizer.scale_loss(loss)
        variables = self.trainable_variables
        gradients = tape.gradient(scaled, variables)
        self.optimizer.apply(gradients, variables)
        self.after_train_step(data)
        # oneDNN's fused BatchNorm + ReLU maps NaN activations to 0 (x86
        # max), so NaN weights can leave the loss finite. Such a step logs
        # a NaN loss, which the divergence check stops on.
        finite = tf.reduce_all(
            [tf.reduce_all(tf.math.is_finite(v)) for v in variables]
        )
        loss = tf.where(finite, loss, tf.constant(float("nan"), loss.dtype))
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        self.loss_tracker.update_state(loss * replicas)
        logs = {metric.name: metric.result() for metric in self.metrics}
        logs["learning_rate"] = self.optimizer.learning_rate
        return logs
