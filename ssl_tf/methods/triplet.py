"""Triplet: a margin between the other view and other images' views."""

import dataclasses

import keras
import tensorflow as tf

from ssl_tf import losses
from ssl_tf.config import ConfigError, check_choice
from ssl_tf.losses.triplet import MINING
from ssl_tf.methods import base
from ssl_tf.methods.base import MethodConfig, SSLModel, register_method
from ssl_tf.models.heads import ProjectionHead


@dataclasses.dataclass(frozen=True)
class TripletConfig(MethodConfig):
    """Triplet options.

    Args:
        margin: the margin m of `L = max(0, m + d(a, p) - d(a, n))` with
            cosine distance `d = 1 - cos` (so m is in [0, 2]).
        mining: negative mining, `semihard` (FaceNet), `hardest` or
            `random`; see `ssl_tf.losses.triplet_losses`.
        projection_dims: units of the projection MLP.
        concat_views: run both views through the encoder as one batch.
    """

    margin: float = 0.2
    mining: str = "semihard"
    projection_dims: tuple[int, ...] = (512, 128)
    concat_views: bool = True

    def validate(self, experiment):
        if not 0 <= self.margin <= 2:
            raise ConfigError(
                "`margin` must be in [0, 2] (a cosine distance). "
                f"Received: margin={self.margin}"
            )
        check_choice("mining", self.mining, MINING)
        base.check_projection_dims(self.projection_dims)
        if experiment.train.batch_size < 2:
            raise ConfigError(
                "Triplet needs `train.batch_size` >= 2 (negatives are "
                "other images of the batch). "
                f"Received: train.batch_size={experiment.train.batch_size}"
            )


@register_method("triplet", config_cls=TripletConfig)
class Triplet(SSLModel):
    """Triplet loss on two views: anchor view 1, positive view 2.

    The negatives of an anchor are the view-2 projections of the other
    images of the global batch (gathered across replicas); one is picked
    per anchor by `mining`. Projections are L2-normalized and compared by
    cosine similarity. Random mining is seeded with the model seed, so an
    anchor's negative depends only on its position in the batch (the data
    order is what varies).

    Metrics: `loss`, `active_triplets` (fraction of anchors with a
    positive loss) and `learning_rate`.

    Reference:
     - [Schroff et al., 2015](https://arxiv.org/abs/1503.03832) (FaceNet)
     - [Wang & Gupta, 2015](https://arxiv.org/abs/1505.00687)
    """

    def __init__(self, encoder, config, **kwargs):
        super().__init__(encoder=encoder, config=config, **kwargs)
        self.projector = ProjectionHead(
            config.projection_dims, seed=self.seed, name="projector"
        )
        self.projector.build((None, int(encoder.outputs[0].shape[-1])))
        self.active_triplets = keras.metrics.Mean("active_triplets")

    make_views = staticmethod(base.simclr_views)

    def compute_ssl_loss(self, inputs, training):
        config = self.method_config
        anchors, positives = self.project_views(
            inputs, self.projector, training, config.concat_views
        )
        # One mining pass serves the loss and the metric.
        per_anchor = losses.triplet_losses(
            anchors, positives, config.margin, config.mining, self.seed
        )
        active = tf.stop_gradient(tf.cast(per_anchor > 0, tf.float32))
        self.active_triplets.update_state(active)
        return losses.global_batch_mean(per_anchor)
