"""Transformer layers: attention, the pre-norm block, a CLS-token encoder.

The ViT encoder (`ssl_tf.models.vit`) and MAE's decoder
(`ssl_tf.methods.mae`) are built from these.
"""

from __future__ import annotations

import math

import keras
from keras import ops

MLP_RATIO = 4


def seeded_glorot(seed, offset):
    """Glorot-uniform from `seed + offset` (unseeded for `seed=None`)."""
    # A seeded Keras initializer repeats its values, so each weight gets
    # its own seed.
    return keras.initializers.GlorotUniform(
        None if seed is None else seed + offset
    )


def offset_seed(seed, offset):
    """`seed + offset`, or `None` for an unseeded build."""
    return None if seed is None else seed + offset


@keras.saving.register_keras_serializable(package="ssl_tf")
class Attention(keras.layers.Layer):
    """Multi-head self-attention with one fused qkv projection (as timm).

    Args:
        dim: Integer. Token width.
        heads: Integer. Number of heads; must divide `dim`.
        seed: Integer seed of the initializers.
    """

    def __init__(self, dim, heads, seed=None, **kwargs):
        super().__init__(**kwargs)
        if dim % heads:
            raise ValueError(
                f"`heads` must divide `dim` ({dim}). Received: heads={heads}"
            )
        self.dim = dim
        self.heads = heads
        self.seed = seed
        self.qkv = keras.layers.Dense(
            3 * dim, kernel_initializer=seeded_glorot(seed, 0), name="qkv"
        )
        self.proj = keras.layers.Dense(
            dim, kernel_initializer=seeded_glorot(seed, 1), name="proj"
        )

    def build(self, input_shape):
        self.qkv.build((None, None, self.dim))
        self.proj.build((None, None, self.dim))
        self.built = True

    def call(self, x):
        head_dim = self.dim // self.heads
        tokens = ops.shape(x)[1]
        qkv = ops.reshape(self.qkv(x), (-1, tokens, 3, self.heads, head_dim))
        q, k, v = ops.unstack(ops.transpose(qkv, (2, 0, 3, 1, 4)), 3)
        scores = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2)))
        weights = ops.softmax(scores / math.sqrt(head_dim), axis=-1)
        out = ops.transpose(ops.matmul(weights, v), (0, 2, 1, 3))
        return self.proj(ops.reshape(out, (-1, tokens, self.dim)))

    def get_config(self):
        return {
            **super().get_config(),
            "dim": self.dim,
            "heads": self.heads,
            "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package="ssl_tf")
class TransformerBlock(keras.layers.Layer):
    """Pre-norm block: `x + attn(ln(x))`, then `x + mlp(ln(x))`.

    LayerNorm epsilon 1e-6 and a GELU MLP of `mlp_ratio * dim` units, as in
    ViT, DeiT and MAE; no dropout.

    Args:
        dim: Integer. Token width.
        heads: Integer. Attention heads.
        mlp_ratio: Integer. Hidden width of the MLP over `dim`.
        seed: Integer seed of the initializers.
    """

    def __init__(self, dim, heads, mlp_ratio=MLP_RATIO, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.dim = dim
        self.heads = heads
        self.mlp_ratio = mlp_ratio
        self.seed = seed
        self.norm_1 = keras.layers.LayerNormalization(
            epsilon=1e-6, name="norm_1"
        )
        self.attention = Attention(dim, heads, seed=seed, name="attention")
        self.norm_2 = keras.layers.LayerNormalization(
            epsilon=1e-6, name="norm_2"
        )
        self.fc_1 = keras.layers.Dense(
            dim * mlp_ratio,
            activation="gelu",
            kernel_initializer=seeded_glorot(seed, 2),
            name="fc_1",
        )
        self.fc_2 = keras.layers.Dense(
            dim, kernel_initializer=seeded_glorot(seed, 3), name="fc_2"
        )

    def build(self, input_shape):
        shape = (None, None, self.dim)
        for layer in (self.norm_1, self.attention, self.norm_2, self.fc_1):
            layer.build(shape)
        self.fc_2.build((None, None, self.dim * self.mlp_ratio))
        self.built = True

    def call(self, x):
        x = x + self.attention(self.norm_1(x))
        return x + self.fc_2(self.fc_1(self.norm_2(x)))

    def get_config(self):
        return {
            **super().get_config(),
            "dim": self.dim,
            "heads": self.heads,
            "mlp_ratio": self.mlp_ratio,
            "seed": self.seed,
        }


def transformer_blocks(dim, depth, heads, seed=None):
    """`depth` `TransformerBlock`s named `block0`, ..., seeded apart."""
    return [
        TransformerBlock(
            dim, heads, seed=offset_seed(seed, 10 * (i + 1)), name=f"block{i}"
        )
        for i in range(depth)
    ]


def add_token(layer, name, dim, seed=None):
    """A learned `(1, 1, dim)` token of `layer`, drawn from N(0, 0.02²).

    MAE's initialisation of its CLS and mask tokens.
    """
    return layer.add_weight(
        shape=(1, 1, dim),
        initializer=keras.initializers.RandomNormal(stddev=0.02, seed=seed),
        name=name,
    )


@keras.saving.register_keras_serializable(package="ssl_tf")
class TransformerEncoder(keras.layers.Layer):
    """Prepends a CLS token, runs `depth` blocks and a final LayerNorm.

    Takes any number of tokens `(B, n, dim)` (all patches, or MAE's visible
    ones) and returns `(B, 1 + n, dim)`, the CLS token first. The CLS token
    has no position embedding (MAE's is zero).

    Args:
        dim: Integer. Token width.
        depth: Integer. Number of `TransformerBlock`s.
        heads: Integer. Attention heads.
        seed: Integer seed of the initializers.
    """

    def __init__(self, dim, depth, heads, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.dim = dim
        self.depth = depth
        self.heads = heads
        self.seed = seed
        self.blocks = transformer_blocks(dim, depth, heads, seed)
        self.norm = keras.layers.LayerNormalization(epsilon=1e-6, name="norm")

    def build(self, input_shape):
        self.cls_token = add_token(self, "cls_token", self.dim, self.seed)
        for layer in (*self.blocks, self.norm):
            layer.build((None, None, self.dim))
        self.built = True

    def call(self, tokens):
        cls = ops.cast(self.cls_token, tokens.dtype)
        cls = ops.broadcast_to(cls, (ops.shape(tokens)[0], 1, self.dim))
        x = ops.concatenate([cls, tokens], axis=1)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def get_config(self):
        return {
            **super().get_config(),
            "dim": self.dim,
            "depth": self.depth,
            "heads": self.heads,
            "seed": self.seed,
        }
