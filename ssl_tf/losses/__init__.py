"""Losses: `keras.losses.Loss` subclasses without side effects."""

from ssl_tf.losses.base import TemperatureLoss, top1_hits
from ssl_tf.losses.info_nce import InfoNCE, info_nce, info_nce_logits
from ssl_tf.losses.nt_xent import (
    NTXent,
    gather_across_replicas,
    nt_xent,
    nt_xent_logits,
)
from ssl_tf.losses.reduction import global_batch_mean
from ssl_tf.losses.triplet import (
    TripletLoss,
    random_negative_indices,
    triplet_losses,
)

__all__ = [
    "InfoNCE",
    "NTXent",
    "TemperatureLoss",
    "TripletLoss",
    "gather_across_replicas",
    "global_batch_mean",
    "info_nce",
    "info_nce_logits",
    "nt_xent",
    "nt_xent_logits",
    "random_negative_indices",
    "top1_hits",
    "triplet_losses",
]
