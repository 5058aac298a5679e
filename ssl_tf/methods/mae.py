"""MAE: masked autoencoder pretraining of a ViT encoder."""

import dataclasses
import math

import keras
import tensorflow as tf

from ssl_tf import augment, losses
from ssl_tf.augment import seeding
from ssl_tf.augment.views import ViewLayer, images_and_sizes
from ssl_tf.config import ConfigError, check_choice
from ssl_tf.methods import base
from ssl_tf.methods.base import MethodConfig, SSLModel, register_method
from ssl_tf.models import vit
from ssl_tf.models.transformer import (
    add_token,
    seeded_glorot,
    transformer_blocks,
)

# Colour jitter would change the reconstruction target: MAE crops and flips.
RECIPES = ("crop_flip", "none")


def num_masked(num_patches, mask_ratio):
    """`round(mask_ratio * num_patches)`, halves rounded up (48 of 64)."""
    return int(math.floor(mask_ratio * num_patches + 0.5))


def random_mask(noise, masked):
    """MAE's per-row mask from uniform `noise` `(B, N)`.

    The `N - masked` patches with the smallest noise stay visible.

    Returns:
        `{"visible": int32 (B, N - masked) patch indices in ascending
        order, "mask": float32 (B, N), 1 on masked patches}`.
    """
    keep = noise.shape[-1] - masked
    order = tf.argsort(noise, axis=-1, stable=True)
    visible = tf.sort(order[:, :keep], axis=-1)
    shown = tf.reduce_sum(tf.one_hot(visible, noise.shape[-1]), axis=1)
    return {"visible": tf.cast(visible, tf.int32), "mask": 1.0 - shown}


@keras.saving.register_keras_serializable(package="ssl_tf")
class MaskedView(ViewLayer):
    """One augmented view and a random patch mask per image.

    Returns `{"images", "visible", "mask"}` (see `random_mask`); the
    mask's noise for image `i` is drawn from the batch seed and `i`'s row
    in the global batch (`augment.seeding.uniform`), so one device and N
    replicas mask alike.

    Args:
        recipe: Optional augmentation layer.
        num_patches: Integer. Patches per image.
        mask_ratio: Float. Share of patches masked, rounded to a count
            (`num_masked`).
        seed: Integer. Seed of the mask when `call` gets no seed tensor.
    """

    def __init__(
        self, recipe=None, num_patches=64, mask_ratio=0.75, seed=None, **kw
    ):
        super().__init__(recipe, **kw)
        self.num_patches = num_patches
        self.mask_ratio = mask_ratio
        self.seed = seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, batch, seed=None):
        images, sizes = images_and_sizes(batch)
        view = self.view(images, seed, 1, sizes)
        noise = seeding.uniform(
            seeding.seed_source(self, seeding.derive(seed, 2)),
            tf.shape(view)[0],
            (self.num_patches,),
        )
        masked = num_masked(self.num_patches, self.mask_ratio)
        out = {"images": view, **random_mask(noise, masked)}
        if isinstance(batch, dict) and "labels" in batch:
            out["labels"] = batch["labels"]
        return out

    def get_config(self):
        return {
            **super().get_config(),
            "num_patches": self.num_patches,
            "mask_ratio": self.mask_ratio,
            "seed": self.seed,
        }


def normalized_patches(patches, eps=1e-6):
    """MAE's target: each patch minus its mean over its unbiased std.

    `(t - mean) / sqrt(var + eps)` over the last axis, `var` with Bessel's
    correction as `torch.var` in MAE's code.
    """
    mean = tf.reduce_mean(patches, axis=-1, keepdims=True)
    count = tf.cast(tf.shape(patches)[-1], patches.dtype)
    var = tf.reduce_sum(tf.square(patches - mean), -1, keepdims=True) / (
        count - 1.0
    )
    return (patches - mean) / tf.sqrt(var + eps)


def masked_patch_mse(prediction, target, mask):
    """Per-image mean over masked patches of the per-pixel squared error.

    Args:
        prediction: `(B, N, P)` reconstructed patches.
        target: `(B, N, P)` target patches.
        mask: `(B, N)`, 1 on masked patches: the others are ignored.

    Returns:
        `(B,)` losses.
    """
    per_patch = tf.reduce_mean(tf.square(prediction - target), axis=-1)
    return tf.reduce_sum(per_patch * mask, -1) / tf.reduce_sum(mask, -1)


@keras.saving.register_keras_serializable(package="ssl_tf")
class MAEDecoder(keras.layers.Layer):
    """MAE's lightweight decoder: visible latents -> every patch's pixels.

    Projects the encoder tokens (CLS first, then the visible patches) to
    `dim`, puts each visible token at its patch position and a shared
    learned mask token at every masked one, adds the fixed sine-cosine
    position embedding (zero for CLS), runs `depth` transformer blocks and
    a LayerNorm, and predicts each patch's `patch_pixels` values.

    Args:
        dim: Integer. Decoder width (a multiple of 4 and of `heads`).
        depth: Integer. Transformer blocks.
        heads: Integer. Attention heads.
        num_patches: Integer. Patches per image (a square grid).
        patch_pixels: Integer. Values per patch, `p * p * 3`.
        seed: Integer seed of the initializers.
    """

    def __init__(
        self, dim, depth, heads, num_patches, patch_pixels, seed=None, **kw
    ):
        super().__init__(**kw)
        self.dim = dim
        self.depth = depth
        self.heads = heads
        self.num_patches = num_patches
        self.patch_pixels = patch_pixels
        self.seed = seed
        grid = math.isqrt(num_patches)
        self.position = vit.sincos_position_embedding(grid, dim, True)
        self.embed = keras.layers.Dense(
            dim, kernel_initializer=seeded_glorot(seed, 0), name="embed"
        )
        self.blocks = transformer_blocks(dim, depth, heads, seed)
        self.norm = keras.layers.LayerNormalization(epsilon=1e-6, name="norm")
        self.head = keras.layers.Dense(
            patch_pixels, kernel_initializer=seeded_glorot(seed, 1), name="head"
        )

    def build(self, input_shape):
        self.mask_token = add_token(self, "mask_token", self.dim, self.seed)
        self.embed.build(input_shape)
        for layer in (*self.blocks, self.norm, self.head):
            layer.build((None, None, self.dim))
        self.built = True

    def call(self, latent, visible):
        x = self.embed(latent)
        # One-hot placement scatters the visible tokens to their patches
        # (and carries their gradient back); the rest get the mask token.
        places = tf.one_hot(visible, self.num_patches, dtype=x.dtype)
        shown = tf.einsum("bkn,bkd->bnd", places, x[:, 1:])
        hidden = 1.0 - tf.reduce_sum(places, axis=1)
        mask_token = tf.cast(self.mask_token, x.dtype)
        tokens = shown + hidden[..., None] * mask_token
        x = tf.concat([x[:, :1], tokens], axis=1)
        x = x + tf.cast(self.position, x.dtype)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))[:, 1:]

    def get_config(self):
        return {
            **super().get_config(),
            "dim": self.dim,
            "depth": self.depth,
            "heads": self.heads,
            "num_patches": self.num_patches,
            "patch_pixels": self.patch_pixels,
            "seed": self.seed,
        }


@dataclasses.dataclass(frozen=True)
class MAEConfig(MethodConfig):
    """MAE options.

    Args:
        mask_ratio: share of each image's patches hidden from the encoder,
            rounded to a count (`num_masked`); MAE's 0.75.
        decoder_dim: decoder width (MAE: 512 at 224 px; 128 here, for
            64 patches).
        decoder_depth: decoder transformer blocks (MAE: 8).
        decoder_heads: decoder attention heads.
        norm_pix_loss: normalise each target patch by its own mean and std
            (MAE's better setting); `False` reconstructs raw pixels.
        recipe: augmentation before masking: `crop_flip` (MAE's random
            resized crop and flip) or `none`.
    """

    mask_ratio: float = 0.75
    decoder_dim: int = 128
    decoder_depth: int = 2
    decoder_heads: int = 4
    norm_pix_loss: bool = True
    recipe: str = "crop_flip"

    def validate(self, experiment):
        check_choice("recipe", self.recipe, RECIPES)
        name = experiment.encoder.name
        if name not in vit.VIT_NAMES:
            raise ConfigError(
                f"MAE needs a ViT encoder, one of {list(vit.VIT_NAMES)}. "
                f"Received: encoder.name={name!r}"
            )
        size = experiment.data.image_size
        patch = vit.patch_size_for(size)
        if size % patch:
            raise ConfigError(
                f"MAE needs `data.image_size` divisible by the patch size "
                f"{patch}. Received: data.image_size={size}"
            )
        patches = (size // patch) ** 2
        if not 0 < num_masked(patches, self.mask_ratio) < patches:
            raise ConfigError(
                "`mask_ratio` must mask at least one of the "
                f"{patches} patches and leave one visible. "
                f"Received: mask_ratio={self.mask_ratio}"
            )
        if self.decoder_depth < 1 or self.decoder_heads < 1:
            raise ConfigError(
                "`decoder_depth` and `decoder_heads` must be positive. "
                f"Received: decoder_depth={self.decoder_depth}, "
                f"decoder_heads={self.decoder_heads}"
            )
        if self.decoder_dim % (4 * self.decoder_heads):
            raise ConfigError(
                "`decoder_dim` must be a multiple of 4 x `decoder_heads` "
                f"({4 * self.decoder_heads}). "
                f"Received: decoder_dim={self.decoder_dim}"
            )


@register_method("mae", config_cls=MAEConfig)
class MAE(SSLModel):
    """Masked autoencoder: reconstruct the masked patches of each image.

    Each image is cut into patches (4 pixels at 32 px) and `mask_ratio`
    of them are hidden (`MaskedView`: a random mask per image, seeded by
    the global row). The ViT encoder (`ssl_tf.models.vit`) sees only the
    visible ones, and `MAEDecoder` predicts every patch; the loss is the
    mean squared error against the normalised pixels
    (`normalized_patches`) of the masked patches only. The exported
    encoder is the ViT on the whole image.

    Metrics: `loss`, `collapse_std` (`base.collapse_std` of the mean
    visible token: ~1/sqrt(d) healthy, 0 collapsed) and `learning_rate`.

    Reference:
     - [He et al., 2022](https://arxiv.org/abs/2111.06377)
    """

    def __init__(self, encoder, config, **kwargs):
        kwargs.setdefault("name", "mae")
        super().__init__(encoder=encoder, config=config, **kwargs)
        self.patch_embed, self.transformer = vit.vit_parts(encoder)
        patch = self.patch_embed.patch_size
        self.decoder = MAEDecoder(
            config.decoder_dim,
            config.decoder_depth,
            config.decoder_heads,
            self.patch_embed.num_patches,
            patch * patch * 3,
            seed=self.seed,
            name="decoder",
        )
        self.decoder.build((None, None, self.patch_embed.dim))
        self.collapse_tracker = keras.metrics.Mean("collapse_std")

    @staticmethod
    def make_views(augment_config, image_size, seed=None, method_config=None):
        method_config = method_config or MAEConfig()
        return MaskedView(
            augment.make_recipe(
                method_config.recipe, augment_config, image_size, seed
            ),
            num_patches=(image_size // vit.patch_size_for(image_size)) ** 2,
            mask_ratio=method_config.mask_ratio,
            seed=seed,
        )

    def encode_visible(self, images, visible, training=False):
        """The encoder's output tokens on the `visible` patches only."""
        tokens = self.patch_embed(images)
        kept = tf.gather(tokens, visible, batch_dims=1)
        return self.transformer(kept, training=training)

    def reconstruct(self, images, visible, training=False):
        """Decoded patches `(B, N, p * p * 3)` from the visible patches."""
        latent = self.encode_visible(images, visible, training)
        return self.decoder(latent, visible, training=training)

    def compute_ssl_loss(self, inputs, training):
        images = inputs["images"]
        latent = self.encode_visible(images, inputs["visible"], training)
        # The mean token stands for the image's embedding (the export
        # mean-pools all patches); its spread shows a collapse.
        self.collapse_tracker.update_state(
            base.collapse_std(tf.reduce_mean(latent, axis=1))
        )
        prediction = self.decoder(latent, inputs["visible"], training=training)
        target = vit.patchify(images, self.patch_embed.patch_size)
        if self.method_config.norm_pix_loss:
            target = normalized_patches(target)
        per_image = masked_patch_mse(
            tf.cast(prediction, tf.float32), target, inputs["mask"]
        )
        return losses.global_batch_mean(per_image)
