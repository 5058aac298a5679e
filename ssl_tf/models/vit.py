"""A small Vision Transformer (ViT) encoder, written as Keras layers.

The encoder is `patchify -> PatchEmbedding -> TransformerEncoder ->
TokenPool`: images in `[0, 1]` to a `(batch, D)` embedding, like every
encoder of `ssl_tf.models.build_encoder`. Its middle layers are also the
parts MAE trains (`vit_parts`): MAE embeds all patches, keeps the visible
ones and runs only those through the transformer, so the exported encoder
is the plain ViT on the full image.

KerasHub's `ViTBackbone` is not used: `keras-hub` pulls in
`tensorflow-text` and its own TensorFlow wheel (`pip install --dry-run
keras-hub==0.32.0`), which the pinned environment does not take.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from ssl_tf.models.transformer import (
    TransformerEncoder,
    offset_seed,
    seeded_glorot,
)

# 4-pixel patches at up to 64 px (an 8 x 8 grid at 32 px); above, ViT's
# 16-pixel ImageNet patches (14 x 14 at 224 px).
PATCH_SIZE = 4
LARGE_PATCH_SIZE = 16
# Width, depth and heads of DeiT-Ti, ViT-S and ViT-B (Touvron et al.,
# 2021; Dosovitskiy et al., 2021): every size has 64-dim heads.
VIT_SIZES = {
    "vit_tiny": (192, 12, 3),
    "vit_small": (384, 12, 6),
    "vit_base": (768, 12, 12),
}
POOLINGS = ("mean", "cls")
# `<size>_cls` reads the CLS token out instead of mean-pooling the patches.
VIT_NAMES = tuple(VIT_SIZES) + tuple(f"{name}_cls" for name in VIT_SIZES)


def sincos_position_embedding(grid_size, dim, cls_token=False):
    """MAE's fixed 2-D sine-cosine position embedding, `(N, dim)` float32.

    Half of the channels encode the row, half the column, each as sines
    and cosines of `1 / 10000^(2i / (dim / 2))` frequencies. With
    `cls_token`, a row of zeros for the CLS position comes first.

    Raises:
        ValueError: unless `dim` is a multiple of 4.
    """
    if dim % 4:
        raise ValueError(f"`dim` must be a multiple of 4. Received: dim={dim}")
    omega = 1.0 / 10000 ** (np.arange(dim // 4, dtype=np.float64) / (dim / 4))
    rows, cols = np.meshgrid(
        np.arange(grid_size), np.arange(grid_size), indexing="ij"
    )

    def encode(positions):
        angles = np.outer(positions.reshape(-1), omega)
        return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)

    # MAE's order: the column (width) half first, then the row half.
    embedding = np.concatenate([encode(cols), encode(rows)], axis=1)
    if cls_token:
        embedding = np.concatenate([np.zeros((1, dim)), embedding], axis=0)
    return embedding.astype(np.float32)


def patch_size_for(image_size):
    """The patch side of a ViT on `image_size` images: 4, or 16 above 64 px."""
    return PATCH_SIZE if image_size <= 64 else LARGE_PATCH_SIZE


def patchify(images, patch_size=PATCH_SIZE):
    """`(B, H, W, C)` -> `(B, N, p * p * C)`: patches in row-major order.

    Each patch's pixels are flattened row by row, channels last; `N` is
    `(H / p) * (W / p)`.
    """
    shape = ops.shape(images)
    rows, cols = shape[1] // patch_size, shape[2] // patch_size
    channels = images.shape[-1]
    x = ops.reshape(images, (-1, rows, patch_size, cols, patch_size, channels))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (-1, rows * cols, patch_size * patch_size * channels))


@keras.saving.register_keras_serializable(package="ssl_tf")
class PatchEmbedding(keras.layers.Layer):
    """Linear patch embedding plus the fixed position embedding.

    Splits square images into `patch_size` patches, maps each to `dim`
    features (a Dense on the flattened pixels, as MAE's stride-p conv) and
    adds the sine-cosine position embedding of its grid cell.

    Args:
        dim: Integer. Token width (a multiple of 4).
        image_size: Integer. Image side, a multiple of `patch_size`.
        patch_size: Integer. Patch side.
        seed: Integer seed of the projection's initializer.
    """

    def __init__(
        self, dim, image_size, patch_size=PATCH_SIZE, seed=None, **kwargs
    ):
        super().__init__(**kwargs)
        if image_size % patch_size:
            raise ValueError(
                f"`image_size` must be a multiple of {patch_size}. "
                f"Received: image_size={image_size}"
            )
        self.dim = dim
        self.image_size = image_size
        self.patch_size = patch_size
        self.seed = seed
        self.position = sincos_position_embedding(image_size // patch_size, dim)
        self.projection = keras.layers.Dense(
            dim, kernel_initializer=seeded_glorot(seed, 0), name="projection"
        )

    @property
    def num_patches(self):
        return (self.image_size // self.patch_size) ** 2

    def build(self, input_shape):
        self.projection.build((None, None, self.patch_size**2 * 3))
        self.built = True

    def call(self, images):
        tokens = self.projection(patchify(images, self.patch_size))
        return tokens + ops.cast(self.position, tokens.dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "dim": self.dim,
            "image_size": self.image_size,
            "patch_size": self.patch_size,
            "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package="ssl_tf")
class TokenPool(keras.layers.Layer):
    """`(B, 1 + n, D)` -> `(B, D)`: mean of the patch tokens, or the CLS.

    Args:
        pooling: `mean` (the patch tokens, CLS excluded) or `cls`.
    """

    def __init__(self, pooling="mean", **kwargs):
        super().__init__(**kwargs)
        if pooling not in POOLINGS:
            raise ValueError(
                f"`pooling` must be one of {list(POOLINGS)}. "
                f"Received: pooling={pooling!r}"
            )
        self.pooling = pooling

    def call(self, tokens):
        if self.pooling == "cls":
            return tokens[:, 0]
        return ops.mean(tokens[:, 1:], axis=1)

    def get_config(self):
        return {**super().get_config(), "pooling": self.pooling}


def vit_dims(name, width=1.0):
    """`(dim, depth, heads)` of a ViT name, its width scaled by `width`.

    `width` scales the head width (64 at 1.0) and keeps the depth and the
    number of heads; the head width is rounded to a multiple of 4 (at
    least 4) so that the sine-cosine embedding divides evenly.
    """
    dim, depth, heads = VIT_SIZES[name.removesuffix("_cls")]
    head_dim = max(4, 4 * round(dim // heads * width / 4))
    return heads * head_dim, depth, heads


def build_vit(config, image_size, name="encoder", seed=None):
    """The ViT encoder of `config`: float32 images in [0, 1] -> `(B, D)`.

    Patch 4 (an 8 x 8 grid at 32 px; 16 above 64 px), fixed 2-D
    sine-cosine position embedding, a CLS token, pre-norm blocks (see
    `VIT_SIZES`; `vit_dims` for `config.width`). The embedding is the mean
    of the patch tokens (after the final LayerNorm) by default: MAE never
    trains the CLS token for a task of its own, and its authors pool patch
    tokens when they fine-tune. Names ending in `_cls` return the CLS
    token instead. `stem` and `zero_init_residual` are ignored.

    Raises:
        ValueError: if `image_size` is not a multiple of the patch size.
    """
    dim, depth, heads = vit_dims(config.name, config.width)
    inputs = keras.Input((image_size, image_size, 3), name="images")
    tokens = PatchEmbedding(
        dim,
        image_size,
        patch_size_for(image_size),
        seed=seed,
        name="patch_embed",
    )(inputs)
    tokens = TransformerEncoder(
        dim, depth, heads, seed=offset_seed(seed, 1), name="transformer"
    )(tokens)
    pooling = "cls" if config.name.endswith("_cls") else "mean"
    outputs = TokenPool(pooling, name="pool")(tokens)
    return keras.Model(inputs, outputs, name=name)


def vit_parts(encoder):
    """`(patch_embed, transformer)` layers of a `build_vit` encoder.

    MAE calls them on the visible patches only; they are the encoder's own
    layers, so training them trains the exported encoder.

    Raises:
        ValueError: if `encoder` is not a ViT from `build_vit`.
    """
    layers = {layer.name: layer for layer in encoder.layers}
    patch_embed = layers.get("patch_embed")
    transformer = layers.get("transformer")
    if not isinstance(patch_embed, PatchEmbedding) or not isinstance(
        transformer, TransformerEncoder
    ):
        raise ValueError(
            f"Encoder {encoder.name!r} is not a ViT (no `patch_embed` and "
            f"`transformer` layers); use one of {list(VIT_NAMES)}."
        )
    return patch_embed, transformer
