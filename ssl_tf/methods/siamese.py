"""What BYOL and SimSiam share: the predictor and its loss.

Both regress a stop-gradient target with a predictor MLP and log the
identity-collapse metric `base.collapse_std`. This module registers no
method.
"""

import tensorflow as tf

from ssl_tf.errors import ConfigError
from ssl_tf.methods.base import check_projection_dims
from ssl_tf.models.heads import ProjectionHead


def predictor(units, hidden, seed):
    """The predictor MLP: Dense, BN, ReLU, then a Dense to `units[-1]`.

    Args:
        units: the projector's layer sizes; the predictor maps the
            projection back to its own size.
        hidden: the predictor's hidden size.
        seed: the model seed; the predictor's layers follow the
            projector's `len(units)` seeds.
    """
    head = ProjectionHead(
        (hidden, units[-1]),
        final_batch_norm=False,
        seed=seed + len(units),
        name="predictor",
    )
    head.build((None, units[-1]))
    return head


def check_predictor_heads(config, experiment, method) -> None:
    """Checks the heads of BYOL and SimSiam; raises `ConfigError`.

    `projection_dims` and `predictor_hidden` must be positive sizes, and
    the batch must hold 2 images for the heads' BN.
    """
    check_projection_dims(config.projection_dims)
    if config.predictor_hidden < 1:
        raise ConfigError(
            "`predictor_hidden` must be a positive size. "
            f"Received: predictor_hidden={config.predictor_hidden}"
        )
    if experiment.train.batch_size < 2:
        raise ConfigError(f"{method} needs `train.batch_size` >= 2 (BN).")


def cosine_to_targets(predictions, targets):
    """Per-row cosine of each prediction with its target, under stop-gradient.

    BYOL's and SimSiam's similarity: the target branch gets no gradient
    (`stop_gradient`), only the predicting branch learns.

    Args:
        predictions: `(n, d)` outputs of the predictor.
        targets: `(n, d)` projections of the other view.

    Returns:
        float32 `(n,)`: `cos(predictions_i, stop_gradient(targets_i))`.
    """
    predictions = tf.math.l2_normalize(tf.cast(predictions, tf.float32), 1)
    targets = tf.math.l2_normalize(tf.cast(targets, tf.float32), 1)
    return tf.reduce_sum(predictions * tf.stop_gradient(targets), axis=1)


def symmetric_cosine(p_1, p_2, target_1, target_2):
    """Per image `cos(p_1, sg(target_2)) + cos(p_2, sg(target_1))`.

    Each view's prediction against the other view's target: the
    symmetrized similarity of BYOL's and SimSiam's losses.
    """
    return cosine_to_targets(p_1, target_2) + cosine_to_targets(p_2, target_1)
