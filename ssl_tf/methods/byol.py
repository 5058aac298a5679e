"""BYOL: an online network predicts the projection of an EMA target."""

import dataclasses

import keras

from ssl_tf import losses
from ssl_tf.methods import base, ema, siamese
from ssl_tf.methods.base import MethodConfig, SSLModel, register_method


@dataclasses.dataclass(frozen=True)
class BYOLConfig(MethodConfig):
    """BYOL options.

    Args:
        momentum: tau_base, the target's EMA coefficient at step 0, in
            [0, 1]. BYOL uses 0.996 for 1000 ImageNet epochs, 0.99 for
            short runs (solo-learn's CIFAR recipe).
        momentum_schedule: `cosine` (BYOL: tau rises to 1 as
            `1 - (1 - tau_base) * (cos(pi * k / K) + 1) / 2` after k
            optimizer steps) or `constant`.
        total_steps: K, the length of the cosine schedule in optimizer
            steps; `None` (default) takes the learning-rate schedule's,
            `train.epochs` x steps per epoch, so tau reaches 1 at the end
            of the run.
        projection_dims: units of the projector MLP (hidden layers with BN
            and ReLU, last layer a plain Dense); BYOL: (4096, 256).
        predictor_hidden: hidden units of the predictor MLP, whose output
            has the projection's size; BYOL: 4096.
        concat_views: run both views through each network as one batch
            (BN sees 2N images), as SimCLR's option of the same name.
    """

    momentum: float = 0.99
    momentum_schedule: str = "cosine"
    total_steps: int | None = None
    projection_dims: tuple[int, ...] = (512, 128)
    predictor_hidden: int = 512
    concat_views: bool = True

    def validate(self, experiment):
        ema.check_momentum(self, total_steps_required=False)
        siamese.check_predictor_heads(self, experiment, "BYOL")


@register_method("byol", config_cls=BYOLConfig)
class BYOL(ema.MomentumTarget, SSLModel):
    """BYOL: bootstrap your own latent, with no negatives.

    The online network is `encoder`, `projector` and `predictor`; the
    target network (`target_encoder`, `target_projector`) starts as a copy
    of the online encoder and projector and then follows them by EMA with
    BYOL's cosine-increasing momentum tau (`ema.MomentumTarget`, after
    every optimizer step). The online prediction of each view regresses
    the target projection of the other view; the loss of one image is
    `2 - 2 cos(p_1, sg(z'_2)) + 2 - 2 cos(p_2, sg(z'_1))` (BYOL's
    symmetrized loss, in [0, 8]). The target gets no gradient: its outputs
    are under `stop_gradient` and its weights are not trainable. It runs
    in training mode (batch statistics in BN), as in BYOL's code.

    Metrics: `loss`, `collapse_std` (`base.collapse_std` of the online
    projections: ~1/sqrt(d) healthy, 0 collapsed), `momentum` (tau of the
    step) and `learning_rate`.

    Reference:
     - [Grill et al., 2020](https://arxiv.org/abs/2006.07733)
    """

    momentum_pairs = (
        ("encoder", "target_encoder"),
        ("projector", "target_projector"),
    )

    def __init__(self, encoder, config, **kwargs):
        kwargs.setdefault("name", "byol")
        super().__init__(encoder=encoder, config=config, **kwargs)
        units = tuple(config.projection_dims)
        self.build_projector_and_target(units)
        self.predictor = siamese.predictor(
            units, config.predictor_hidden, self.seed
        )
        self.collapse_tracker = keras.metrics.Mean("collapse_std")
        self.momentum_tracker = keras.metrics.Mean("momentum")

    make_views = staticmethod(base.simclr_views)

    def compute_ssl_loss(self, inputs, training):
        concat = self.method_config.concat_views
        z_1, z_2 = self.project_views(inputs, self.projector, training, concat)
        p_1, p_2 = (self.predictor(z, training=training) for z in (z_1, z_2))
        target_1, target_2 = self.project_views(
            inputs,
            self.target_projector,
            training,
            concat,
            encoder=self.target_encoder,
        )
        # 2 - 2 cos = the squared distance of the unit vectors, per order.
        per_image = 4.0 - 2.0 * siamese.symmetric_cosine(
            p_1, p_2, target_1, target_2
        )
        self.collapse_tracker.update_state(base.collapse_std(z_1, z_2))
        return losses.global_batch_mean(per_image)

    def after_train_step(self, inputs):
        del inputs  # the EMA needs only the weights
        momentum = self.current_momentum()
        self.update_target(momentum)
        self.momentum_tracker.update_state(momentum)
