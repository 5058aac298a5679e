"""Encoder factory: ResNets, the CBR family, ViTs and `keras.applications`.

Every encoder is a functional `keras.Model` that takes float32 images in
`[0, 1]` and returns a `(batch, D)` embedding (global average pooling; a
ViT's pooled patch tokens or CLS token).
"""

from __future__ import annotations

import difflib

import keras

from ssl_tf.models import vit
from ssl_tf.models.batch_norm import BatchNormalization

# ResNet: blocks per stage and whether the stage uses bottleneck blocks.
_RESNETS = {
    "resnet18": ((2, 2, 2, 2), False),
    "resnet34": ((3, 4, 6, 3), False),
    "resnet50": ((3, 4, 6, 3), True),
}
# CBR (Raghu et al., 2019, Appendix): filters per block, kernel size and
# whether the last block is followed by a max-pool (all but CBR-LargeT).
_CBRS = {
    "cbr_tiny": ((64, 128, 256, 512), 5, True),
    "cbr_small": ((32, 64, 128, 256), 7, True),
    "cbr_large_t": ((32, 64, 128, 256, 512), 7, False),
    "cbr_large_w": ((64, 128, 256, 512), 7, True),
}
# The convolutional encoders, which accept any input size; the ViTs'
# names are `vit.VIT_NAMES`.
ENCODER_NAMES = tuple(_RESNETS) + tuple(_CBRS)

# How `keras.applications` models want their inputs, given ours in [0, 1].
_MINUS_ONE_TO_ONE = (
    "MobileNet",
    "MobileNetV2",
    "NASNetLarge",
    "NASNetMobile",
    "Xception",
    "InceptionV3",
    "InceptionResNetV2",
    "ResNet50V2",
    "ResNet101V2",
    "ResNet152V2",
)
_CAFFE = ("ResNet50", "ResNet101", "ResNet152", "VGG16", "VGG19")
_TORCH = ("DenseNet121", "DenseNet169", "DenseNet201")
# These rescale inside the model and expect [0, 255].
_ZERO_TO_255 = ("EfficientNet", "ConvNeXt", "MobileNetV3", "RegNet")
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_CAFFE_MEAN_RGB = (123.68, 116.779, 103.939)
# Applications whose smallest accepted input side is not 32.
_APPLICATION_MIN_SIZES = {
    "InceptionV3": 75,
    "InceptionResNetV2": 75,
    "Xception": 71,
}


def application_names() -> list[str]:
    """Names of the model functions in `keras.applications`."""
    return sorted(
        name
        for name in dir(keras.applications)
        if name[:1].isupper() and callable(getattr(keras.applications, name))
    )


def _check_name(name: str) -> None:
    own = list(ENCODER_NAMES + vit.VIT_NAMES)
    if name in own or name in application_names():
        return
    close = difflib.get_close_matches(name, own + application_names(), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(
        f"Unknown encoder {name!r}.{hint} Available: {own} "
        "or any keras.applications name (e.g. 'MobileNetV2')."
    )


def _scaled(channels: int, width: float) -> int:
    # int() truncates like lightly's ResNetGenerator (`int(64 * width)`), so
    # widths match the PyTorch peer exactly.
    return max(1, int(channels * width))


def min_image_size(config) -> int:
    """Smallest input side that the encoder reduces to a 1x1 feature map.

    This is the encoder's total stride. Smaller inputs still run (padding
    keeps at least 1x1), but the last stages then see mostly padding.
    `keras.applications` models refuse inputs below this size.

    Args:
        config: An `ssl_tf.config.EncoderConfig`.

    Returns:
        The side length in pixels, e.g. 8 for a ResNet with the `cifar` stem
        and 32 with the `imagenet` stem.

    Raises:
        ValueError: If `config.name` is not a known encoder.
    """
    _check_name(config.name)
    if config.name in _RESNETS:
        return 8 if config.stem == "cifar" else 32
    if config.name in _CBRS:
        return 16
    if config.name in vit.VIT_NAMES:
        return vit.PATCH_SIZE
    return _APPLICATION_MIN_SIZES.get(config.name, 32)


def embedding_dim(config) -> int:
    """Size D of the `(batch, D)` embedding `build_encoder(config)` returns.

    Cheap for ResNet and CBR encoders; a `keras.applications` model is built
    (without weights) to read its output size.

    Args:
        config: An `ssl_tf.config.EncoderConfig`.

    Returns:
        The embedding size.

    Raises:
        ValueError: If `config.name` is not a known encoder.
    """
    _check_name(config.name)
    if config.name in _RESNETS:
        expansion = 4 if _RESNETS[config.name][1] else 1
        return _scaled(64, config.width) * 8 * expansion
    if config.name in _CBRS:
        return _scaled(_CBRS[config.name][0][-1], config.width)
    if config.name in vit.VIT_NAMES:
        return vit.vit_dims(config.name, config.width)[0]
    encoder = build_encoder(config, min_image_size(config))
    return int(encoder.output.shape[-1])


class _Initializers:
    """Hands out He-normal initializers, each with its own seed.

    A seeded Keras initializer returns the same values on every call, so
    each layer needs a different seed: `seed`, `seed + 1`, ...
    """

    def __init__(self, seed):
        self.seed = seed
        self.count = 0

    def __call__(self):
        if self.seed is None:
            return keras.initializers.HeNormal()
        self.count += 1
        return keras.initializers.HeNormal(seed=self.seed + self.count - 1)


def _batch_norm(name, zero_gamma=False):
    # synchronized: under MirroredStrategy the replicas share batch
    # statistics, so a 2-replica step equals a 1-device step. On one
    # replica the layer trains with the fused kernel.
    return BatchNormalization(
        synchronized=True,
        momentum=0.9,
        epsilon=1e-5,
        gamma_initializer="zeros" if zero_gamma else "ones",
        name=name,
    )


def _conv_bn(
    x,
    filters,
    kernel_size,
    strides,
    init,
    name,
    relu=True,
    zero_gamma=False,
):
    if strides > 1 and kernel_size > 1:
        # Explicit symmetric padding as in PyTorch (`padding=k // 2`); Keras
        # "same" pads only on the right/bottom for even inputs.
        x = keras.layers.ZeroPadding2D(kernel_size // 2, name=f"{name}_pad")(x)
        padding = "valid"
    else:
        padding = "same"
    x = keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        use_bias=False,
        kernel_initializer=init(),
        name=f"{name}_conv",
    )(x)
    x = _batch_norm(f"{name}_bn", zero_gamma)(x)
    if relu:
        x = keras.layers.ReLU(name=f"{name}_relu")(x)
    return x


def _residual_block(
    x, filters, strides, bottleneck, init, name, zero_init_residual=False
):
    out_filters = filters * 4 if bottleneck else filters
    if strides != 1 or x.shape[-1] != out_filters:
        shortcut = _conv_bn(
            x, out_filters, 1, strides, init, f"{name}_proj", relu=False
        )
    else:
        shortcut = x
    # zero_init_residual: gamma = 0 on the last BN before the add (not on
    # the shortcut's), so the block starts as relu(shortcut), as SimCLR's
    # `batch_norm_relu(..., init_zero=True)`.
    last = dict(relu=False, zero_gamma=zero_init_residual)
    if bottleneck:
        # The stride sits on the 3x3 conv (ResNet v1.5, as in lightly).
        y = _conv_bn(x, filters, 1, 1, init, f"{name}_1")
        y = _conv_bn(y, filters, 3, strides, init, f"{name}_2")
        y = _conv_bn(y, out_filters, 1, 1, init, f"{name}_3", **last)
    else:
        y = _conv_bn(x, filters, 3, strides, init, f"{name}_1")
        y = _conv_bn(y, filters, 3, 1, init, f"{name}_2", **last)
    y = keras.layers.Add(name=f"{name}_add")([y, shortcut])
    return keras.layers.ReLU(name=f"{name}_out")(y)


def _resnet(inputs, config, init):
    blocks, bottleneck = _RESNETS[config.name]
    base = _scaled(64, config.width)
    if config.stem == "cifar":
        x = _conv_bn(inputs, base, 3, 1, init, "stem")
    else:
        x = _conv_bn(inputs, base, 7, 2, init, "stem")
        # Zero padding equals -inf padding here: inputs are post-ReLU.
        x = keras.layers.ZeroPadding2D(1, name="stem_pool_pad")(x)
        x = keras.layers.MaxPooling2D(3, strides=2, name="stem_pool")(x)
    for stage, num_blocks in enumerate(blocks):
        for block in range(num_blocks):
            strides = 2 if stage > 0 and block == 0 else 1
            x = _residual_block(
                x,
                base * 2**stage,
                strides,
                bottleneck,
                init,
                f"stage{stage + 1}_block{block + 1}",
                zero_init_residual=config.zero_init_residual,
            )
    return x


def _cbr(inputs, config, init):
    filters, kernel_size, pool_last = _CBRS[config.name]
    x = inputs
    for index, block_filters in enumerate(filters):
        name = f"block{index + 1}"
        x = _conv_bn(
            x, _scaled(block_filters, config.width), kernel_size, 1, init, name
        )
        if pool_last or index < len(filters) - 1:
            # "same" keeps any input >= 1x1 (PyTorch's padding=0 would need
            # inputs of at least 31 px).
            x = keras.layers.MaxPooling2D(
                3, strides=2, padding="same", name=f"{name}_pool"
            )(x)
    return x


def _application_preprocessing(name):
    if name in _MINUS_ONE_TO_ONE:
        return keras.layers.Rescaling(2.0, offset=-1.0, name="to_minus1_1")
    if name in _CAFFE:
        # Channel order stays RGB: the weights are random, only scale matters.
        return keras.layers.Normalization(
            mean=[m / 255.0 for m in _CAFFE_MEAN_RGB],
            variance=[1.0 / 255.0**2] * 3,
            name="caffe_normalization",
        )
    if name in _TORCH:
        return keras.layers.Normalization(
            mean=_IMAGENET_MEAN,
            variance=[s**2 for s in _IMAGENET_STD],
            name="imagenet_normalization",
        )
    if name.startswith(_ZERO_TO_255):
        return keras.layers.Rescaling(255.0, name="to_0_255")
    return None


def build_encoder(
    config, image_size: int, name: str = "encoder", seed: int | None = None
) -> keras.Model:
    """Builds the encoder named in `config`.

    Supported names:

    - `resnet18`, `resnet34` (basic blocks) and `resnet50` (bottleneck
      blocks, expansion 4, stride on the 3x3 conv). Stage widths are
      `int(64 * width)` times 1, 2, 4, 8, as lightly's `ResNetGenerator`.
      Stem `cifar`: 3x3 stride-1 conv, BN, ReLU. Stem `imagenet`: 7x7
      stride-2 conv, BN, ReLU, 3x3 stride-2 max-pool. A 1x1 conv + BN
      projection shortcut is used whenever the shape changes.
      `zero_init_residual` starts the last BN of each block (the one before
      the add; not the shortcut's) at gamma = 0, as SimCLR's ResNet, so
      each block starts as `relu(shortcut)`.
    - The CBR family of Raghu et al. (2019), Appendix: stacks of
      (conv-BN-ReLU) blocks with stride-1 convolutions, each followed by a
      3x3 stride-2 max-pool ("same" padding), then global average pooling.
      `cbr_tiny`: 64-128-256-512 filters, 5x5. `cbr_small`: 32-64-128-256,
      7x7. `cbr_large_w`: 64-128-256-512, 7x7. `cbr_large_t`:
      32-64-128-256-512, 7x7, with no max-pool after the last block.
      `width` scales the filters; `stem` and `zero_init_residual` are
      ignored.
    - `vit_tiny`, `vit_small`, `vit_base` (DeiT-Ti, ViT-S, ViT-B widths,
      depth 12) with 4-pixel patches, and their `_cls` variants, which
      embed by the CLS token instead of the mean patch token
      (`ssl_tf.models.vit.build_vit`). `width` scales the head width;
      the input side is fixed to `image_size`, a multiple of 4.
    - Any `keras.applications` function name (`MobileNetV2`,
      `EfficientNetB0`, ...), built with `weights=None`, `include_top=False`,
      `pooling="avg"` and a fixed `(image_size, image_size, 3)` input. A
      rescaling layer maps `[0, 1]` to the range the model expects
      (`[-1, 1]`, caffe or torch mean/std, or `[0, 255]` for models that
      normalize inside). `width`, `stem` and `zero_init_residual` are
      ignored, and so is `seed`: use `keras.utils.set_random_seed` to make
      these reproducible.

    ResNet and CBR encoders accept any spatial size: their input shape is
    `(None, None, 3)`. Convolutions have no bias and are followed by
    `BatchNormalization(synchronized=True, momentum=0.9, epsilon=1e-5)`
    (`ssl_tf.models.batch_norm`: fused on one replica).

    Args:
        config: An `ssl_tf.config.EncoderConfig` (`name`, `stem`, `width`,
            `zero_init_residual`).
        image_size: Training image side. Fixes the input shape of ViTs
            and `keras.applications` models; unused by the others.
        name: Name of the returned model.
        seed: Integer seed for the weight initializers of ResNet, CBR and
            ViT encoders: two builds with the same seed have equal weights.

    Returns:
        A functional `keras.Model` from float32 images in `[0, 1]` to
        `(batch, D)` embeddings.

    Raises:
        ValueError: If `config.name` is not a known encoder, if
            `image_size` is too small for a `keras.applications` model, or
            not a multiple of a ViT's patch size.

    Reference:
     - [He et al., 2015](https://arxiv.org/abs/1512.03385)
     - [Raghu et al., 2019](https://arxiv.org/abs/1902.07208)

    Example:
    >>> config = EncoderConfig(name="resnet18", width=0.125)
    >>> build_encoder(config, 16, seed=0)(np.zeros((2, 16, 16, 3))).shape
    TensorShape([2, 64])
    """
    _check_name(config.name)
    if config.name in vit.VIT_NAMES:
        return vit.build_vit(config, image_size, name=name, seed=seed)
    if config.name in ENCODER_NAMES:
        inputs = keras.Input((None, None, 3), dtype="float32", name="images")
        init = _Initializers(seed)
        if config.name in _RESNETS:
            x = _resnet(inputs, config, init)
        else:
            x = _cbr(inputs, config, init)
        outputs = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        return keras.Model(inputs, outputs, name=name)

    smallest = min_image_size(config)
    if image_size < smallest:
        raise ValueError(
            f"`image_size` must be >= {smallest} for {config.name}. "
            f"Received: image_size={image_size}"
        )
    shape = (image_size, image_size, 3)
    inputs = keras.Input(shape, dtype="float32", name="images")
    x = inputs
    preprocessing = _application_preprocessing(config.name)
    if preprocessing is not None:
        x = preprocessing(x)
    application = getattr(keras.applications, config.name)(
        weights=None, include_top=False, pooling="avg", input_shape=shape
    )
    return keras.Model(inputs, application(x), name=name)
