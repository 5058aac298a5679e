"""SimSiam: a predictor and a stop-gradient, no negatives, no momentum."""

import dataclasses

import keras

from ssl_tf import losses
from ssl_tf.methods import base, siamese
from ssl_tf.methods.base import MethodConfig, SSLModel, register_method
from ssl_tf.models.heads import ProjectionHead


@dataclasses.dataclass(frozen=True)
class SimSiamConfig(MethodConfig):
    """SimSiam options.

    Args:
        projection_dims: units of the projector MLP; every layer is Dense
            and BN, the hidden ones with ReLU. SimSiam: (2048, 2048, 2048)
            on ImageNet, 2 layers on CIFAR.
        predictor_hidden: the predictor's bottleneck (Dense, BN, ReLU, then
            a Dense back to the projection size); SimSiam: a quarter of
            the projection size (512 for 2048).
        concat_views: run both views through the encoder as one batch (BN
            sees 2N images), as SimCLR's option of the same name.
    """

    projection_dims: tuple[int, ...] = (512, 512)
    predictor_hidden: int = 128
    concat_views: bool = True

    def validate(self, experiment):
        siamese.check_predictor_heads(self, experiment, "SimSiam")


@register_method("simsiam", config_cls=SimSiamConfig)
class SimSiam(SSLModel):
    """SimSiam: each view's prediction regresses the other's projection.

    One network (`encoder`, `projector`) projects both views to z_1, z_2;
    the `predictor` maps them to p_1, p_2. The loss of one image is
    `-cos(p_1, sg(z_2)) / 2 - cos(p_2, sg(z_1)) / 2` (in [-1, 1]): the
    stop-gradient on the targets is what keeps SimSiam from collapsing
    (SimSiam, section 4.1).

    Metrics: `loss`, `collapse_std` (`base.collapse_std` of z: ~1/sqrt(d)
    healthy, 0 collapsed) and `learning_rate`.

    Reference:
     - [Chen & He, 2021](https://arxiv.org/abs/2011.10566)
    """

    def __init__(self, encoder, config, **kwargs):
        kwargs.setdefault("name", "simsiam")
        super().__init__(encoder=encoder, config=config, **kwargs)
        units = tuple(config.projection_dims)
        self.projector = ProjectionHead(units, seed=self.seed, name="projector")
        self.predictor = siamese.predictor(
            units, config.predictor_hidden, self.seed
        )
        self.collapse_tracker = keras.metrics.Mean("collapse_std")

    make_views = staticmethod(base.simclr_views)

    def compute_ssl_loss(self, inputs, training):
        z_1, z_2 = self.project_views(
            inputs, self.projector, training, self.method_config.concat_views
        )
        p_1, p_2 = (self.predictor(z, training=training) for z in (z_1, z_2))
        per_image = -0.5 * siamese.symmetric_cosine(p_1, p_2, z_1, z_2)
        self.collapse_tracker.update_state(base.collapse_std(z_1, z_2))
        return losses.global_batch_mean(per_image)
