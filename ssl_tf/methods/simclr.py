"""SimCLR: contrastive learning with in-batch negatives."""

import dataclasses

import keras

from ssl_tf import losses
from ssl_tf.config import ConfigError
from ssl_tf.methods import base
from ssl_tf.methods.base import MethodConfig, SSLModel, register_method
from ssl_tf.models.heads import ProjectionHead


@dataclasses.dataclass(frozen=True)
class SimCLRConfig(MethodConfig):
    """SimCLR options.

    Args:
        temperature: NT-Xent temperature (> 0).
        projection_dims: units of the projection MLP; 2 entries = SimCLR v1,
            3 = SimCLR v2, `()` = no head (the loss on the encoder's
            features, SimCLR's Figure 8 "none").
        concat_views: run both views through the encoder as one batch (as
            SimCLR's code does: BatchNorm sees 2N images); faster on CPU.
    """

    temperature: float = 0.1
    projection_dims: tuple[int, ...] = (512, 128)
    concat_views: bool = True

    def validate(self, experiment):
        base.check_temperature(self.temperature)
        if self.projection_dims:
            base.check_projection_dims(self.projection_dims)
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
        self.projector = (
            ProjectionHead(config.projection_dims)
            if config.projection_dims
            # float32 as the head would be: the logits need the precision.
            else keras.layers.Identity(dtype="float32")
        )
        self.contrastive_accuracy = keras.metrics.Mean("contrastive_accuracy")

    make_views = staticmethod(base.simclr_views)

    def compute_ssl_loss(self, inputs, training):
        z_1, z_2 = self.project_views(
            inputs, self.projector, training, self.method_config.concat_views
        )
        # The logits serve the loss and the metric: one all-gather a step.
        per_anchor, logits, labels = losses.nt_xent(
            z_1, z_2, self.method_config.temperature
        )
        self.contrastive_accuracy.update_state(losses.top1_hits(logits, labels))
        return losses.global_batch_mean(per_anchor)
