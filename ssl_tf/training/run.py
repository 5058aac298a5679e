"""`pretrain(config)`: data -> model -> fit (resumable) -> export."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time

import keras
import tensorflow as tf

from ssl_tf import augment, export, methods, models
from ssl_tf import data as data_lib
from ssl_tf.config import ConfigError, ExperimentConfig
from ssl_tf.training import callbacks as callbacks_lib
from ssl_tf.training import checkpoints, optimizers, precision, preview
from ssl_tf.training import strategy as strategy_lib

logger = logging.getLogger("ssl_tf.training")


@dataclasses.dataclass
class PretrainResult:
    """What a pretraining run produced."""

    model: keras.Model
    history: dict
    run_dir: str
    export_dir: str | None
    resumed_from: tuple[int, int]
    seconds: float


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


def build_model(config, strategy, steps_per_epoch, num_classes=None):
    """The SSL model and its optimizer, created inside `strategy.scope()`."""
    method_cls = methods.get_method(config.method)
    method_config = methods.make_method_config(
        config.method, config.method_options
    )
    size = config.data.image_size
    device_views = None
    if config.augment.placement == "device":
        device_views = method_cls.views_for(config)
    with strategy.scope():
        keras.utils.set_random_seed(config.train.seed)
        encoder = models.build_encoder(
            config.encoder, size, seed=config.train.seed
        )
        kwargs = {"num_classes": num_classes} if method_cls.needs_labels else {}
        model = method_cls(
            encoder,
            method_config,
            views=device_views,
            seed=config.train.seed,
            **kwargs,
        )
        optimizer = optimizers.build_optimizer(config.train, steps_per_epoch)
        model.compile(optimizer=optimizer, jit_compile=config.train.jit_compile)
    # Under mixed_float16 `compile` wraps the optimizer in a
    # LossScaleOptimizer, whose scale must be checkpointed too.
    return model, model.optimizer


def build_from_batch(model, config, strategy, batch=None):
    """Creates all model variables from one batch (zeros if `batch` is None)."""
    if batch is None:
        size = config.data.image_size
        batch = {
            "images": tf.zeros((8, size, size, 3), tf.uint8),
            "labels": tf.zeros((8,), tf.int64),
        }
    views = methods.get_method(config.method).views_for(config)
    sample = views(batch, seed=tf.constant([0, 0], tf.int32))
    with strategy.scope():
        model.build_from_batch(sample)


def pretrain(
    config: ExperimentConfig,
    *,
    arrays=None,
    extra_callbacks=(),
    do_export=True,
    verbose="auto",
) -> PretrainResult:
    """Pretrains an encoder; rerunning the same config resumes.

    Checks the config and the data before creating any directory; then
    restores the latest checkpoint of `<output_dir>/<name>` (if any), trains
    to `train.epochs`, and exports the encoder to `<export_dir>/<name>`.
    """
    started = time.time()
    check_before_work(config)
    method_cls = methods.get_method(config.method)
    source, info = data_lib.load_source(config.data, arrays=arrays)
    if method_cls.needs_labels and info.num_classes is None:
        raise ConfigError(
            f"Method {config.method!r} needs labels, but {info.description} "
            "has none."
        )
    strategy = strategy_lib.make_strategy(config.train.strategy)
    precision.set_policy(config.train.mixed_precision, strategy)
    batch = config.train.batch_size
    if batch % strategy.num_replicas_in_sync:
        raise ConfigError(
            f"`train.batch_size`={batch} must be divisible by the "
            f"{strategy.num_replicas_in_sync} replicas."
        )
    steps = config.train.steps_per_epoch or data_lib.steps_per_epoch(
        info.num_examples, batch
    )
    model, optimizer = build_model(config, strategy, steps, info.num_classes)

    directory = run_dir(config)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "config.json"), "w") as handle:
        handle.write(config.to_json())
    views = None
    if config.augment.placement == "host":
        views = method_cls.views_for(config)
    first = next(iter(source.batch(min(batch, 16))))
    build_from_batch(model, config, strategy, first)
    # The views of step 0's seed, as the pipeline draws them.
    picture = preview.preview(
        method_cls.views_for(config),
        first["images"][:8],
        augment.batch_seed(config.train.seed, 0),
    )
    with strategy.scope():
        # Create the optimizer's slots now so a checkpoint restores them
        # (Keras creates them lazily at the first step otherwise).
        optimizer.build(model.trainable_variables)

    checkpointer = checkpoints.Checkpointer(
        os.path.join(directory, "checkpoints"),
        model,
        optimizer,
        keep=config.train.keep_checkpoints,
    )
    start_epoch, start_step = checkpointer.restore()
    resumed_from = (start_epoch, start_step)
    if (start_epoch, start_step) != (0, 0):
        logger.warning(
            "Resuming %s from epoch %d, step %d (global step %d).",
            directory,
            start_epoch,
            start_step,
            int(optimizer.iterations.numpy()),
        )
        print(
            f"Resuming from checkpoint: epoch {start_epoch}, step "
            f"{start_step} (global step {int(optimizer.iterations.numpy())}).",
            flush=True,
        )
    epochs = config.train.epochs

    arrays = None
    if config.data.cache and (
        info.num_examples * config.data.image_size**2 * 3
        <= data_lib.pipeline.MAX_IN_MEMORY_BYTES
    ):
        arrays = data_lib.pipeline.materialize(source, info)

    def dataset(first_epoch, last_epoch, skip):
        return data_lib.pretrain_dataset(
            source,
            info,
            batch_size=batch,
            image_size=config.data.image_size,
            views=views,
            seed=config.train.seed,
            shuffle_buffer=config.data.shuffle_buffer,
            cache=config.data.cache,
            epochs=last_epoch,
            start_epoch=first_epoch,
            start_step=skip,
            steps=steps,
            arrays=arrays,
        )

    callbacks = [
        checkpoints.CheckpointCallback(
            checkpointer,
            steps,
            every_steps=config.train.checkpoint_every_steps,
            every_seconds=config.train.checkpoint_every_seconds,
            start_epoch=start_epoch,
            start_step=start_step,
        ),
        keras.callbacks.TensorBoard(
            os.path.join(directory, "logs"),
            update_freq="epoch",
            profile_batch=0,
            write_graph=False,
        ),
        callbacks_lib.ViewGridCallback(
            os.path.join(directory, "logs"), picture
        ),
        callbacks_lib.ScanSummaryCallback(info.scan),
        *extra_callbacks,
    ]
    history = {}
    phases = []
    if start_epoch < epochs and start_step:
        # Finish the interrupted epoch, then run the remaining ones.
        phases.append((start_epoch, start_epoch + 1, start_step))
        start_epoch += 1
    if start_epoch < epochs:
        phases.append((start_epoch, epochs, 0))
    for first, last, skip in phases:
        fit = model.fit(
            dataset(first, last, skip),
            initial_epoch=first,
            epochs=last,
            steps_per_epoch=steps - skip if skip else steps,
            callbacks=callbacks,
            verbose=verbose,
            shuffle=False,
        )
        for key, values in fit.history.items():
            history.setdefault(key, []).extend(values)
        # Only the first phase is partial.
        callbacks[0].offset = 0
    if not phases:
        print(f"{directory} already finished {epochs} epochs.", flush=True)

    exported = None
    if do_export:
        exported = export.export_encoder(
            model.encoder,
            export_dir(config),
            config.data.image_size,
            metadata={
                "config": json.loads(config.to_json()),
                "method": config.method,
            },
        )
        print(f"Exported encoder to {exported}", flush=True)
    return PretrainResult(
        model=model,
        history=history,
        run_dir=directory,
        export_dir=exported,
        resumed_from=resumed_from,
        seconds=time.time() - started,
    )
