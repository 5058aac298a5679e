"""`prepare`: validate a pretraining run, then open its data.

Everything that can be checked without reading an image is checked first
(the config, the image size, writable directories, the strategy and the
replicas), so a bad run fails at once and creates nothing.
"""

from __future__ import annotations

import dataclasses
import os
import time

import tensorflow as tf

from ssl_tf import data as data_lib
from ssl_tf import methods, models
from ssl_tf.config import ConfigError, ExperimentConfig
from ssl_tf.training import checkpoints, drift, init_from
from ssl_tf.training import strategy as strategy_lib


@dataclasses.dataclass
class Plan:
    """A validated run: the config, the strategy and the opened data.

    Args:
        config: the validated `ExperimentConfig`.
        strategy: the `tf.distribute.Strategy` of `train.strategy`.
        source: the training split's `ssl_tf.data.Source` (its records,
            decoder and `SourceInfo`), which the pipeline reads.
        steps: steps per epoch.
        eval_source: the labelled `data.eval_split` for the kNN monitor
            (`None` when `train.knn_monitor_every` is 0).
        started: `time.time()` when the run started.
        resolved: the resolved config (`drift.check_resume`), recorded in
            the run directory once the run has restored its checkpoint.
        init_weights: the weights of `encoder.init_from` that a fresh run
            starts its encoder from (`init_from.initial_weights`); `None`
            for a random init or a run that resumes from its checkpoint.
    """

    config: ExperimentConfig
    strategy: tf.distribute.Strategy
    source: data_lib.Source
    steps: int
    eval_source: tf.data.Dataset | None
    started: float
    resolved: dict
    init_weights: list | None = None


def run_dir(config: ExperimentConfig) -> str:
    return os.path.join(config.output_dir, config.name)


def export_dir(config: ExperimentConfig) -> str:
    return os.path.join(config.export_dir, config.name)


def check_before_work(config: ExperimentConfig) -> None:
    """Every check that can fail cheaply, before anything is created."""
    config.validate()
    encoder_min = models.min_image_size(config.encoder)
    if config.data.image_size < encoder_min:
        raise ConfigError(
            f"`data.image_size` must be >= {encoder_min} for encoder "
            f"{config.encoder.name!r} with the {config.encoder.stem} stem. "
            f"Received: data.image_size={config.data.image_size}"
        )
    for key, path in (
        ("output_dir", config.output_dir),
        ("export_dir", config.export_dir),
    ):
        if not checkpoints.run_directory_is_writable(path):
            raise ConfigError(f"`{key}` {path!r} is not writable.")


def make_strategy(config: ExperimentConfig) -> tf.distribute.Strategy:
    """The strategy of `train.strategy`, checked against the batch size."""
    strategy = strategy_lib.make_strategy(config.train.strategy)
    batch, replicas = config.train.batch_size, strategy.num_replicas_in_sync
    if batch % replicas:
        raise ConfigError(
            f"`train.batch_size`={batch} must be divisible by the "
            f"{replicas} replicas."
        )
    if config.train.jit_compile and replicas > 1 and _on_cpu(strategy):
        # XLA cannot compile the CPU collectives of a mirrored step.
        raise ConfigError(
            f"`train.jit_compile=True` does not work with {replicas} "
            "replicas on CPU. Set `train.jit_compile=False`."
        )
    return strategy


def _on_cpu(strategy) -> bool:
    """Whether the strategy's replicas are CPU devices."""
    return all(
        tf.DeviceSpec.from_string(device).device_type == "CPU"
        for device in strategy.extended.worker_devices
    )


def split_arrays(arrays, split: str, train_split: str):
    """The `(images, labels)` of `split` from `pretrain`'s `arrays`.

    `arrays` is `(images, labels)` for the training split alone, or a
    dict mapping split names to such pairs (as `ssl_tf.evaluate` takes).
    """
    if arrays is None or isinstance(arrays, dict):
        return (arrays or {}).get(split)
    return arrays if split == train_split else None


def _require_labels(info, needed_by: str) -> None:
    if info.num_classes is None:
        raise ConfigError(
            f"{needed_by} needs labels, but {info.description} has none."
        )


def _eval_source(config, arrays):
    """The labelled `data.eval_split`, for the kNN monitor."""
    needed_by = "`train.knn_monitor_every`"
    split = config.data.eval_split
    split_data = split_arrays(arrays, split, config.data.split)
    if config.data.source == "arrays" and split_data is None:
        raise ConfigError(
            f"{needed_by} needs the labelled split {split!r}: pass "
            f"`arrays={{{config.data.split!r}: (images, labels), "
            f"{split!r}: (images, labels)}}`."
        )
    source, info = data_lib.load_source(config.data, split, split_data)
    _require_labels(info, f"{needed_by} (split {split!r})")
    return source


def check_crop_from(config: ExperimentConfig, info) -> None:
    """Refuses full-resolution crops where the views need square images.

    Known from the source's metadata, before any image is decoded:
    whether its images may be larger than `data.image_size`
    (`data_lib.pipeline.crops_original`).

    Raises:
        ConfigError: if the images would be cropped at full resolution
            but augmented on the device (static shapes for XLA) or by
            KerasCV's layers (one image size a batch).
    """
    if not data_lib.pipeline.crops_original(info, config.data):
        return
    fix = "`augment.placement=host`"
    if config.augment.placement == "device":
        what = "`augment.placement='device'` augments fixed-shape batches"
    elif config.augment.backend == "keras_cv":
        what = "`augment.backend='keras_cv'` crops one image size a batch"
        fix = "`augment.backend=keras`"
    else:
        return
    raise ConfigError(
        f"{what}, but `data.crop_from='original'` crops the images of "
        f"{info.description} at their own resolution. Set "
        f"`data.crop_from=square` (resize to `data.image_size` squares "
        f"first) or {fix}."
    )


def prepare(config: ExperimentConfig, arrays=None) -> Plan:
    """Validates everything, then opens the data; reads no image before.

    Args:
        config: the experiment.
        arrays: for `data.source='arrays'`: `(images, labels)` of the
            training split, or `{split: (images, labels)}`.

    Raises:
        ConfigError: for an invalid config, an unwritable directory, a
            batch that does not split over the replicas, missing labels,
            or a config that drifted from the run it would resume
            (`ssl_tf.training.drift`), an `encoder.init_from` that is
            missing or does not fit the encoder (`init_from`), or
            full-resolution crops with device-side or KerasCV
            augmentation (`check_crop_from`).
        DataError: for data that cannot be read.
    """
    started = time.time()
    check_before_work(config)
    strategy = make_strategy(config)
    train_arrays = split_arrays(arrays, config.data.split, config.data.split)
    # Before any data is read: a changed config must not resume this run.
    resolved = drift.check_resume(
        config, run_dir(config), strategy, train_arrays
    )
    init_weights = init_from.initial_weights(
        config, run_dir(config), export_dir(config)
    )
    source = data_lib.open_source(config.data, arrays=train_arrays)
    info = source.info
    check_crop_from(config, info)
    if methods.get_method(config.method).needs_labels:
        _require_labels(info, f"Method {config.method!r}")
    eval_source = None
    if config.train.knn_monitor_every:
        _require_labels(info, "`train.knn_monitor_every`")
        eval_source = _eval_source(config, arrays)
    steps = config.train.steps_per_epoch or data_lib.steps_per_epoch(
        info.num_examples, config.train.batch_size
    )
    return Plan(
        config,
        strategy,
        source,
        steps,
        eval_source,
        started,
        resolved,
        init_weights,
    )
