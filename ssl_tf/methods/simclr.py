"""SimCLR: contrastive learning with in-batch negatives."""

import dataclasses

import keras
import tensorflow as tf

from ssl_tf import augment, losses
from ssl_tf.config import ConfigError
from ssl_tf.methods.base import MethodConfig, SSLModel, register_method
from ssl_tf.models.heads import ProjectionHead


@dataclasses.dataclass(frozen=True)
class SimCLRConfig(MethodConfig):
    """SimCLR options.

    Args:
        temperature: NT-Xent temperature (> 0).
        projection_dims: units of the projection MLP; 2 entries = SimCLR v1,
            3 = SimCLR v2.
        concat_views: run both views through the encoder as one batch (as
            SimCLR's code does: BatchNorm sees 2N images); faster on CPU.
    """

    temperature: float = 0.1
    projection_dims: tuple[int, ...] = (512, 128)
    concat_views: bool = True

    def validate(self, experiment):
        if self.temperature <= 0:
            raise ConfigError(
                "`temperature` must be positive. "
                f"Received: temperature={self.temperature}"
            )
        if len(self.projection_dims) < 1 or min(self.projection_dims) < 1:
            raise ConfigError(
                "`projection_dims` must be positive sizes. "
                f"Received: projection_dims={self.projection_dims}"
            )
        if experiment.train.batch_size < 2:
            raise ConfigError("SimCLR needs `train.batch_size` >= 2.")


@register_method("simclr", config_cls=SimCLRConfig)
class SimCLR(SSLModel):
    """SimCLR: two views, encoder, projection head, NT-Xent.

    Metrics: `loss`, `contrastive_accuracy` (how often the positive is the
    highest-scoring candidate) and `learning_rate`.

    Reference:
     - [Chen et al., 2020](https://arxiv.org/abs/2002.05709)
    """

    def __init__(self, encoder, config, **kwargs):
        super().__init__(encoder=encoder, config=config, **kwargs)
        self.projector = ProjectionHead(config.projection_dims)
        self.contrastive_accuracy = keras.metrics.Mean("contrastive_accuracy")

    @staticmethod
    def make_views(augment_config, image_size, seed=None, method_config=None):
        return augment.TwoViews(
            augment.simclr_recipe(augment_config, image_size, seed)
        )

    def compute_ssl_loss(self, inputs, training):
        views = (inputs["view_1"], inputs["view_2"])
        if self.method_config.concat_views:
            both = tf.concat(views, axis=0)
            z = self.projector(
                self.encoder(both, training=training), training=training
            )
            z_1, z_2 = tf.split(z, 2, axis=0)
        else:
            z_1, z_2 = (
                self.projector(
                    self.encoder(v, training=training), training=training
                )
                for v in views
            )
        # The logits serve the loss and the metric: one all-gather a step.
        logits_1, logits_2, labels = losses.nt_xent_logits(
            z_1, z_2, self.method_config.temperature
        )
        hits = tf.equal(
            tf.argmax(logits_1, axis=1, output_type=tf.int32), labels
        )
        self.contrastive_accuracy.update_state(tf.cast(hits, tf.float32))
        return losses.global_batch_mean(
            losses.nt_xent_per_anchor(logits_1, logits_2, labels)
        )
