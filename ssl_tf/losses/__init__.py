"""Losses: `keras.losses.Loss` subclasses without side effects."""

from ssl_tf.losses.nt_xent import NTXent, gather_across_replicas, nt_xent_logits

__all__ = ["NTXent", "gather_across_replicas", "nt_xent_logits"]
