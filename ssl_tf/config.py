"""Experiment configuration: frozen dataclasses with validation.

An `ExperimentConfig` is what every entry point receives: the CLI builds one
from a preset plus `key=value` overrides, a pipeline component receives its
JSON form. Validation runs before any expensive work (data loading, model
building, creating the output directory), and every error names the key and
the allowed values. Turning `key=value` text and JSON into these classes is
`ssl_tf.overrides`; its functions are re-exported here.
"""

from __future__ import annotations

import dataclasses
import json

from ssl_tf import overrides, registry
from ssl_tf.errors import ConfigError, check_choice, suggest
from ssl_tf.overrides import (
    apply_overrides,
    coerce,
    make_method_config,
    method_config_fields,
)

# The dataclasses, and the names re-exported from `ssl_tf.errors` and
# `ssl_tf.overrides` (the parsing of `key=value` text and JSON).
__all__ = [
    "AugmentConfig",
    "ConfigError",
    "DataConfig",
    "EncoderConfig",
    "ExperimentConfig",
    "TrainConfig",
    "all_keys",
    "apply_overrides",
    "check_choice",
    "coerce",
    "from_dict",
    "make_method_config",
    "method_config_fields",
    "suggest",
]


def _check_range(key, value, low=None, high=None, low_open=False) -> None:
    bad = (low is not None and (value <= low if low_open else value < low)) or (
        high is not None and value > high
    )
    if bad:
        bound = []
        if low is not None:
            bound.append(f"{'>' if low_open else '>='} {low}")
        if high is not None:
            bound.append(f"<= {high}")
        raise ConfigError(
            f"`{key}` must be {' and '.join(bound)}. Received: {key}={value!r}"
        )


# `DataConfig.crop_from` values: crop the original image or its square.
CROP_FROM = ("original", "square")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where images come from and how they are batched.

    Args:
        source: a registered source (`ssl_tf.registry.SOURCES`): `tfds`,
            `folder`, `manifest`, `tfrecord`, `arrays` (in-memory only)
            or one you add in `ssl_tf/data/sources/`. A manifest is a CSV
            file with the header `path` or `path,label` (integer labels
            or class names), or a text file with one image path per line;
            relative paths are resolved against the manifest's directory
            (the dataset root).
        name: TFDS dataset name, or the folder / manifest / TFRecord glob
            path (`{split}` in a manifest or TFRecord path is replaced by
            the split).
        split: split used for pretraining (TFDS split syntax allowed).
        eval_split: split used as the test set by evaluation.
        data_dir: TFDS data directory; `None` honours `TFDS_DATA_DIR`.
        image_size: the side of the square images a model trains and is
            evaluated on.
        crop_from: what pretraining's random resized crop cuts from.
            `original` (default): each image at its own resolution and
            aspect ratio, its longer side capped at 4 * `image_size`
            (`ssl_tf.data.sources.base.MAX_SIDE_FACTOR`), so a small crop
            keeps the original's detail, as SimCLR and big_vision crop.
            `square`: the image resized to an `image_size` square first
            (aspect ratio not kept). Sources whose images are known to be
            no larger than `image_size` (e.g. CIFAR-10 at 32 px) are
            cropped from the square either way; evaluation always resizes
            to the square.
        shuffle_buffer: records a shuffle window of streamed TFRecord
            and TFDS records holds (`ssl_tf.data.windows`): each epoch
            reads the files in a seeded order and permutes each window
            of this many records.
        cache: hold the decoded, resized images in memory (shuffled
            globally by index) when they fit in `cache_max_bytes` and are
            cropped from the square (not under `crop_from="original"`
            with images that may be larger than `image_size`);
            larger data streams: folders, manifests and arrays in the same
            global order, TFRecord and TFDS through a shuffle buffer.
        cache_max_bytes: the most decoded image bytes (`N * size**2 * 3`)
            held in memory, on every host.
        allow_outside_root: accept manifest paths that resolve (following
            symlinks) outside the dataset root; by default they are refused.
    """

    source: str = "tfds"
    name: str = "cifar10"
    split: str = "train"
    eval_split: str = "test"
    data_dir: str | None = None
    image_size: int = 32
    crop_from: str = "original"
    shuffle_buffer: int = 10_000
    cache: bool = True
    cache_max_bytes: int = 1536 << 20
    allow_outside_root: bool = False

    def validate(self) -> None:
        # Read lazily: the sources register themselves when `ssl_tf.data`
        # is imported, and this module must not import it.
        check_choice("data.source", self.source, registry.SOURCES.names())
        _check_range("data.image_size", self.image_size, low=8)
        check_choice("data.crop_from", self.crop_from, CROP_FROM)
        _check_range("data.shuffle_buffer", self.shuffle_buffer, low=0)
        _check_range("data.cache_max_bytes", self.cache_max_bytes, low=0)


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """The SimCLR augmentation recipe, applied to whole batches.

    Args:
        crop_scale: area range of the random resized crop.
        crop_ratio: aspect-ratio range of the random resized crop.
        flip: random horizontal flip.
        jitter_strength: colour-jitter strength `s` (0 turns it off).
        jitter_prob: probability of applying colour jitter to an image.
        grayscale_prob: probability of converting an image to grayscale.
        blur: Gaussian blur; `None` means on for images of 64 px or more.
        solarize_prob: probability of solarization (0 turns it off).
        placement: `host` (inside tf.data) or `device` (top of train_step).
        backend: `keras` (Keras 3 layers) or `keras_cv` (KerasCV layers).
    """

    crop_scale: tuple[float, float] = (0.08, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip: bool = True
    jitter_strength: float = 0.5
    jitter_prob: float = 0.8
    grayscale_prob: float = 0.2
    blur: bool | None = None
    solarize_prob: float = 0.0
    placement: str = "host"
    backend: str = "keras"

    def validate(self) -> None:
        check_choice("augment.placement", self.placement, ("host", "device"))
        check_choice("augment.backend", self.backend, ("keras", "keras_cv"))
        low, high = self.crop_scale
        if not 0 < low <= high <= 1:
            raise ConfigError(
                "`augment.crop_scale` must satisfy 0 < low <= high <= 1. "
                f"Received: augment.crop_scale={self.crop_scale}"
            )
        for key in ("jitter_prob", "grayscale_prob", "solarize_prob"):
            _check_range(f"augment.{key}", getattr(self, key), 0, 1)
        _check_range("augment.jitter_strength", self.jitter_strength, 0)


@dataclasses.dataclass(frozen=True)
class EncoderConfig:
    """The backbone that becomes the exported encoder.

    Args:
        name: `resnet18|34|50`, `cbr_tiny|small|large_t|large_w`, or any
            `keras.applications` model name (built with `weights=None`).
        stem: `cifar` (3x3 stride-1 conv, no max-pool) or `imagenet`.
        width: channel width multiplier.
        zero_init_residual: ResNets only: start the last BatchNormalization
            of each residual block (before the add) at gamma = 0, so every
            block starts as its shortcut, as SimCLR's ResNet does.
        init_from: continue pretraining from an existing encoder: the path
            of an export directory (what `pretrain` and `ssl-tf export`
            write) or of a `.keras` encoder file. A fresh run starts its
            encoder from those weights (BatchNorm statistics included)
            instead of a random init; the method's heads and the optimizer
            start fresh. A run that resumes from its checkpoint ignores
            them (the checkpoint already holds their effect), but a changed
            path is refused as drift. The architecture must match the
            `name`, `stem` and `width` above weight for weight
            (`ssl_tf.training.init_from`). `None`: random init.
    """

    name: str = "resnet18"
    stem: str = "cifar"
    width: float = 1.0
    zero_init_residual: bool = False
    init_from: str | None = None

    def validate(self) -> None:
        check_choice("encoder.stem", self.stem, ("cifar", "imagenet"))
        _check_range("encoder.width", self.width, low=0, low_open=True)
        if self.init_from is not None and not self.init_from.strip():
            raise ConfigError(
                "`encoder.init_from` must be a path or None. "
                f"Received: encoder.init_from={self.init_from!r}"
            )


# `train.strategy` names besides `cpu:N` (`ssl_tf.training.strategy`).
STRATEGIES = ("auto", "default", "mirrored", "multi_worker_mirrored", "tpu")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation, distribution, checkpoints and logging.

    Args:
        batch_size: global batch size (per-replica x replicas).
        epochs: number of passes over the data.
        steps_per_epoch: `None` = one pass over the split.
        optimizer: `lars`, `sgd` (PyTorch's SGD), `sgdw` (Keras's SGD),
            `adam` or `adamw`.
        learning_rate: base rate for a global batch of 256.
        lr_scaling: `linear` (lr * batch/256), `sqrt` or `none`.
        weight_decay: weight decay, BN and biases excluded. `lars` and
            `sgd` add it to the gradient (L2, coupled, as SimCLR's LARS and
            PyTorch's SGD); `sgdw` and `adamw` decouple it
            (`w -= lr * wd * w`); `adam` ignores it.
        momentum: momentum of SGD / SGDW / LARS.
        warmup_epochs: linear warm-up length before cosine decay.
        strategy: `auto`, `default`, `mirrored`, `multi_worker_mirrored`
            (`MultiWorkerMirroredStrategy` over the hosts of the
            `TF_CONFIG` environment variable), `tpu` or `cpu:N` (N logical
            CPU replicas, for tests and debugging).
        seed: global seed for weights, shuffling and augmentation.
        checkpoint_every_steps: save a checkpoint every N steps (0 = only at
            epoch ends).
        checkpoint_every_seconds: also save when this much time has passed.
        keep_checkpoints: how many checkpoints to keep.
        jit_compile: XLA-compile the train step (not with a mirrored
            strategy on CPU).
        mixed_precision: `none` (float32), `bfloat16` or `float16`
            compute, or `auto`: the fastest that keeps the score
            (`ssl_tf.training.precision.resolve`: bfloat16 on TPUs and
            Ampere or newer GPUs, float32 elsewhere; float16 does not
            resume exactly). Variables, the loss and BatchNorm
            statistics stay float32.
        knn_monitor_every: log `knn_accuracy` every N epochs (0 = off): a
            seeded sample of the labelled training split is the kNN memory
            bank and a sample of `data.eval_split` the queries, both
            embedded by the current encoder (`ssl_tf.evaluation.KNNMonitor`).
            Both splits must have labels.
        knn_monitor_examples: images drawn from each split for the monitor.
    """

    batch_size: int = 256
    epochs: int = 10
    steps_per_epoch: int | None = None
    optimizer: str = "lars"
    learning_rate: float = 0.3
    lr_scaling: str = "linear"
    weight_decay: float = 1e-6
    momentum: float = 0.9
    warmup_epochs: float = 1.0
    strategy: str = "auto"
    seed: int = 0
    checkpoint_every_steps: int = 0
    checkpoint_every_seconds: float = 600.0
    keep_checkpoints: int = 3
    jit_compile: bool = False
    mixed_precision: str = "none"
    knn_monitor_every: int = 0
    knn_monitor_examples: int = 1000

    def validate(self) -> None:
        _check_range("train.batch_size", self.batch_size, low=2)
        _check_range("train.epochs", self.epochs, low=1)
        if self.steps_per_epoch is not None:
            _check_range("train.steps_per_epoch", self.steps_per_epoch, low=1)
        check_choice(
            "train.optimizer",
            self.optimizer,
            ("lars", "sgd", "sgdw", "adam", "adamw"),
        )
        _check_range(
            "train.learning_rate", self.learning_rate, low=0, low_open=True
        )
        check_choice(
            "train.lr_scaling", self.lr_scaling, ("linear", "sqrt", "none")
        )
        _check_range("train.weight_decay", self.weight_decay, low=0)
        _check_range("train.momentum", self.momentum, 0, 1)
        _check_range("train.warmup_epochs", self.warmup_epochs, low=0)
        if not (
            self.strategy in STRATEGIES or self.strategy.startswith("cpu:")
        ):
            names = sorted(STRATEGIES + ("cpu:N",))
            raise ConfigError(
                f"`train.strategy` must be one of {names}. Received: "
                f"train.strategy={self.strategy!r}"
            )
        _check_range(
            "train.checkpoint_every_steps", self.checkpoint_every_steps, low=0
        )
        _check_range("train.keep_checkpoints", self.keep_checkpoints, low=1)
        check_choice(
            "train.mixed_precision",
            self.mixed_precision,
            ("auto", "none", "bfloat16", "float16"),
        )
        _check_range("train.knn_monitor_every", self.knn_monitor_every, low=0)
        _check_range(
            "train.knn_monitor_examples", self.knn_monitor_examples, low=1
        )


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """One pretraining experiment.

    Args:
        name: run name; names the run and export directories.
        method: registered method name (see `ssl_tf.methods.list_methods()`).
        method_options: keyword overrides of the method's config dataclass.
        encoder, data, augment, train: the sections above.
        output_dir: checkpoints and TensorBoard logs go to
            `<output_dir>/<name>`.
        export_dir: the encoder is exported to `<export_dir>/<name>`.
    """

    name: str = "run"
    method: str = "simclr"
    method_options: dict = dataclasses.field(default_factory=dict)
    encoder: EncoderConfig = dataclasses.field(default_factory=EncoderConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    augment: AugmentConfig = dataclasses.field(default_factory=AugmentConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    output_dir: str = "runs"
    export_dir: str = "saved_models"

    def validate(self) -> ExperimentConfig:
        """Checks every section; returns self so calls can be chained."""
        for section in (self.encoder, self.data, self.augment, self.train):
            section.validate()
        make_method_config(self.method, self.method_options).validate(self)
        return self

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ExperimentConfig:
        return from_dict(json.loads(text))


def from_dict(raw: dict) -> ExperimentConfig:
    """Builds a config from a nested dict (e.g. parsed JSON)."""
    return overrides.from_dict(ExperimentConfig, raw)


def all_keys() -> list[str]:
    """Every dotted config key, for error messages and `--help`."""
    return overrides.all_keys(ExperimentConfig)
