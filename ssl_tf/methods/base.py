"""`SSLModel` (the one train_step), its shared blocks and the registry.

The blocks several methods share live here: `SSLModel.project_views`
(SimCLR, triplet), `simclr_views` (SimCLR, MoCo, triplet),
`ClassifierMethod` (rotation, supervised), the identity-collapse metric
`collapse_std` (BYOL, SimSiam, MAE) and the checks of common options
(`check_temperature`, `check_projection_dims`). MoCo's and BYOL's momentum
target is in `ema`, what BYOL and SimSiam share in `siamese`.
"""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf

from ssl_tf import augment, losses, registry
from ssl_tf.errors import ConfigError
from ssl_tf.models.heads import ClassificationHead
from ssl_tf.overrides import make_method_config


@dataclasses.dataclass(frozen=True)
class MethodConfig:
    """Base of every method's config dataclass."""

    def validate(self, experiment) -> None:
        """Checks values against the whole experiment; raises ConfigError."""
        del experiment


def check_temperature(temperature) -> None:
    """Raises `ConfigError` unless the `temperature` option is positive."""
    if temperature <= 0:
        raise ConfigError(
            "`temperature` must be positive. "
            f"Received: temperature={temperature}"
        )


def check_projection_dims(projection_dims) -> None:
    """Raises `ConfigError` unless `projection_dims` are positive sizes."""
    if len(projection_dims) < 1 or min(projection_dims) < 1:
        raise ConfigError(
            "`projection_dims` must be positive sizes. "
            f"Received: projection_dims={projection_dims}"
        )


def collapse_std(*projections):
    """Identity-collapse metric: mean per-dimension std of unit projections.

    The std over the global batch of each dimension of the L2-normalised
    projections, averaged over the d dimensions (SimSiam, section 4.1):
    about `1 / sqrt(d)` for projections spread over the sphere, 0 when
    every image maps to one vector. No gradient flows through it.

    Args:
        *projections: `(n, d)` batches (e.g. of both views), taken as one.
    """
    rows = tf.concat([tf.cast(p, tf.float32) for p in projections], 0)
    units = tf.math.l2_normalize(tf.stop_gradient(rows), axis=1)
    # The global batch on every replica: the same value everywhere.
    units, _ = losses.gather_across_replicas(units)
    return tf.reduce_mean(tf.math.reduce_std(units, axis=0))


def simclr_views(augment_config, image_size, seed=None, method_config=None):
    """Two views by SimCLR's recipe: the `make_views` of two-view methods."""
    del method_config  # the same views for every option
    return augment.TwoViews(
        augment.simclr_recipe(augment_config, image_size, seed)
    )


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


def _multi_worker(strategy) -> bool:
    """Keras's test for a strategy whose logs it reduces across workers."""
    in_multi_worker_mode = getattr(
        strategy.extended, "_in_multi_worker_mode", lambda: False
    )
    return in_multi_worker_mode()


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

    def project_views(
        self, inputs, projector, training, concat_views=True, encoder=None
    ):
        """`(z_1, z_2)`: `projector(encoder(view))` of both views.

        Args:
            inputs: a batch with `view_1` and `view_2`.
            projector: the head applied to the encoder's features.
            training: Boolean, passed to the encoder and the head.
            concat_views: run both views through the encoder as one batch,
                as SimCLR's code does (BatchNorm sees 2N images); faster on
                CPU. `False` runs each view on its own.
            encoder: the encoder to use (BYOL's target); `None`: the
                model's `encoder`.
        """
        encoder = self.encoder if encoder is None else encoder
        views = (inputs["view_1"], inputs["view_2"])
        if concat_views:
            both = tf.concat(views, axis=0)
            z = projector(encoder(both, training=training), training=training)
            z_1, z_2 = tf.split(z, 2, axis=0)
            return z_1, z_2
        z_1, z_2 = (
            projector(encoder(v, training=training), training=training)
            for v in views
        )
        return z_1, z_2

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

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if self.built and _multi_worker(self.distribute_strategy):
            # Keras 3.15 would reduce the first batch across the workers
            # to build the model, which fails for a nested batch. The model
            # is built (`build_from_batch`); build the rest as Keras does.
            with self.distribute_strategy.scope():
                self._symbolic_build()
            return
        super()._maybe_symbolic_build(iterator, data_batch)

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
        if _multi_worker(tf.distribute.get_strategy()):
            # Keras 3.15 averages logs over workers along axis 0, which
            # scalars lack (tensorflow#72388); the mean of this one-element
            # axis is the scalar (replicas log the same global metrics).
            logs = {key: tf.reshape(value, [1]) for key, value in logs.items()}
        return logs


class ClassifierMethod(SSLModel):
    """A linear classifier on the encoder, trained with cross-entropy.

    The shared body of the methods that predict one label per image (the
    applied rotation, the class): `classifier`, the sparse cross-entropy
    `ssl_loss` and the training accuracy `accuracy_tracker`. A subclass
    names them (`head_name`: the classifier's weights are saved under it;
    `loss_name`; `accuracy_name`: the metric in the logs) and gives the
    `views_layer` that turns a recipe into labelled images; its config has
    a `recipe` field.

    Args:
        encoder: The backbone `keras.Model`.
        config: The method's config dataclass.
        num_classes: Integer. Number of labels.
    """

    head_name = "classifier"
    loss_name = "cross_entropy"
    accuracy_name = "accuracy"
    views_layer = None

    def __init__(self, encoder, config, num_classes, **kwargs):
        super().__init__(encoder=encoder, config=config, **kwargs)
        self.num_classes = int(num_classes)
        self.classifier = ClassificationHead(
            self.num_classes, seed=self.seed, name=self.head_name
        )
        self.classifier.build((None, int(encoder.outputs[0].shape[-1])))
        self.ssl_loss = keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, name=self.loss_name
        )
        self.accuracy_tracker = keras.metrics.Mean(self.accuracy_name)

    @classmethod
    def make_views(
        cls, augment_config, image_size, seed=None, method_config=None
    ):
        method_config = method_config or cls.config_cls()
        return cls.views_layer(
            augment.make_recipe(
                method_config.recipe, augment_config, image_size, seed
            )
        )

    def compute_ssl_loss(self, inputs, training):
        embeddings = self.encoder(inputs["images"], training=training)
        logits = self.classifier(embeddings)
        labels = tf.cast(tf.reshape(inputs["labels"], [-1]), tf.int32)
        self.accuracy_tracker.update_state(losses.top1_hits(logits, labels))
        return self.ssl_loss(labels, logits)
