"""`pretrain(config)`: prepare -> restore or build -> fit (resumable) -> finish.

Each step is a function of its own and can be tested on its own:

- `prepare` (`ssl_tf.training.plan`) validates everything that can be
  validated (config, image size, writable directories, strategy and
  replicas) before any data is read, then opens the data;
- `restore_or_build` builds the model and optimizer and restores the
  latest checkpoint of `<output_dir>/<name>`;
- `fit_resumable` trains from the resume point to `train.epochs`;
- `finish` exports the encoder and summarises the run.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time

import keras
import tensorflow as tf

from ssl_tf import atomic, augment, export, methods, models
from ssl_tf import data as data_lib
from ssl_tf.config import ExperimentConfig
from ssl_tf.training import callbacks as callbacks_lib
from ssl_tf.training import checkpoints, drift, optimizers, precision, preview
from ssl_tf.training import strategy as strategy_lib
from ssl_tf.training.plan import (
    Plan,
    check_before_work,
    export_dir,
    prepare,
    run_dir,
)

# The steps, and the helpers other modules and tests call as `run.<name>`.
__all__ = [
    "Plan",
    "PretrainResult",
    "State",
    "build_from_batch",
    "build_model",
    "check_before_work",
    "export_dir",
    "finish",
    "fit_resumable",
    "prepare",
    "pretrain",
    "restore_or_build",
    "resume_phases",
    "run_dir",
]


@dataclasses.dataclass
class PretrainResult:
    """What a pretraining run produced."""

    model: keras.Model
    history: dict
    run_dir: str
    export_dir: str | None
    resumed_from: tuple[int, int]
    seconds: float


@dataclasses.dataclass
class State:
    """The model of a run and where it resumes.

    Args:
        model, optimizer: built inside the strategy's scope.
        checkpointer: the run's `Checkpointer`.
        directory: the run directory.
        resumed_from: `(epoch, step_in_epoch)` of the restored checkpoint.
        picture: the recipe preview of step 0, for TensorBoard.
        precision: what `train.mixed_precision` resolved to (`none`,
            `bfloat16`, ...), as `precision.set_policy` set it.
    """

    model: keras.Model
    optimizer: keras.optimizers.Optimizer
    checkpointer: checkpoints.Checkpointer
    directory: str
    resumed_from: tuple[int, int]
    picture: preview.Preview
    precision: str


def build_model(
    config, strategy, steps_per_epoch, num_classes=None, init_weights=None
):
    """The SSL model and its optimizer, created inside `strategy.scope()`.

    Args:
        config: the experiment.
        strategy: the run's `tf.distribute.Strategy`.
        steps_per_epoch: for the learning-rate schedule.
        num_classes: for methods that train on labels.
        init_weights: the encoder's starting weights (`Plan.init_weights`),
            set before the method is built, so copies it makes of the
            encoder (MoCo's key encoder) start from them too; `None`: the
            seeded random init.
    """
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
        if init_weights is not None:
            encoder.set_weights(init_weights)
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


def restore_or_build(plan: Plan) -> State:
    """Builds model and optimizer; restores the run's latest checkpoint.

    Then records the resolved config in the run directory
    (`ssl_tf.training.drift`), which later reruns are checked against.
    """
    config, strategy = plan.config, plan.strategy
    chosen = precision.set_policy(config.train.mixed_precision, strategy)
    model, optimizer = build_model(
        config,
        strategy,
        plan.steps,
        plan.source.info.num_classes,
        plan.init_weights,
    )
    directory = run_dir(config)
    writes = strategy_lib.writes_files(strategy)
    if writes:
        os.makedirs(directory, exist_ok=True)
        atomic.write_text(
            os.path.join(directory, "config.json"), config.to_json()
        )
    batch = min(config.train.batch_size, 16)
    first = data_lib.pipeline.first_batch(plan.source, config.data, batch)
    build_from_batch(model, config, strategy, first)
    # The views of step 0's seed, as the pipeline draws them.
    sizes = first.get("sizes")
    picture = preview.preview(
        methods.get_method(config.method).views_for(config),
        first["images"][:8],
        augment.batch_seed(config.train.seed, 0),
        sizes=None if sizes is None else sizes[:8],
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
        writes=writes,
    )
    resumed_from = checkpointer.restore()
    if writes:
        # Only now: a checkpoint this config cannot restore keeps its
        # record.
        drift.write_record(directory, plan.resolved)
    if resumed_from != (0, 0):
        print(
            f"Resuming from checkpoint: epoch {resumed_from[0]}, step "
            f"{resumed_from[1]} (global step "
            f"{int(optimizer.iterations.numpy())}) in {directory}.",
            flush=True,
        )
    return State(
        model,
        optimizer,
        checkpointer,
        directory,
        resumed_from,
        picture,
        chosen,
    )


def resume_phases(resumed_from, epochs):
    """The `(first_epoch, last_epoch, skip_steps)` of each `fit` call.

    An interrupted epoch is finished first (skipping its done steps), then
    the remaining epochs run in one call.

    Example:
    >>> resume_phases((1, 2), 4)
    [(1, 2, 2), (2, 4, 0)]
    """
    start_epoch, start_step = resumed_from
    phases = []
    if start_epoch < epochs and start_step:
        phases.append((start_epoch, start_epoch + 1, start_step))
        start_epoch += 1
    if start_epoch < epochs:
        phases.append((start_epoch, epochs, 0))
    return phases


def fit_resumable(
    plan: Plan, state: State, extra_callbacks=(), verbose="auto"
) -> dict:
    """Trains from `state.resumed_from` to `train.epochs`; the history."""
    config = plan.config
    phases = resume_phases(state.resumed_from, config.train.epochs)
    if not phases:
        print(
            f"{state.directory} already finished {config.train.epochs} epochs.",
            flush=True,
        )
        return {}
    views, image_dtype = None, None
    if config.augment.placement == "host":
        views = methods.get_method(config.method).views_for(config)
        # The encoder computes in bfloat16: the views leave in it.
        if state.precision == "bfloat16":
            image_dtype = tf.bfloat16
    arrays = data_lib.pipeline.in_memory_arrays(plan.source, config.data)
    callbacks = callbacks_lib.pretrain_callbacks(plan, state, extra_callbacks)
    history = {}
    for first, last, skip in phases:
        # Each input pipeline (one a host) builds its rows of every global
        # batch, so the batches are those of one device on any topology.
        dataset = data_lib.pipeline.distributed_pretrain_dataset(
            plan.strategy,
            plan.source,
            config.data,
            batch_size=config.train.batch_size,
            seed=config.train.seed,
            views=views,
            batches=(first * plan.steps + skip, last * plan.steps),
            steps=plan.steps,
            arrays=arrays,
            image_dtype=image_dtype,
        )
        fit = state.model.fit(
            dataset,
            initial_epoch=first,
            epochs=last,
            steps_per_epoch=plan.steps - skip,
            callbacks=callbacks,
            verbose=verbose,
            shuffle=False,
        )
        for key, values in fit.history.items():
            history.setdefault(key, []).extend(values)
    return history


def finish(plan: Plan, state: State, history: dict, do_export=True):
    """Exports the encoder (if `do_export`); the run's `PretrainResult`."""
    exported = None
    if do_export and state.checkpointer.writes:
        exported = export.export_experiment(
            state.model.encoder, plan.config, export_dir(plan.config)
        )
        print(f"Exported encoder to {exported}", flush=True)
    elif do_export:
        # A worker that does not write the run joins the save (see
        # `strategy.writes_files`) and keeps nothing.
        with tempfile.TemporaryDirectory(prefix="ssl_tf-export-") as scratch:
            export.export_experiment(
                state.model.encoder, plan.config, f"{scratch}/export"
            )
    return PretrainResult(
        model=state.model,
        history=history,
        run_dir=state.directory,
        export_dir=exported,
        resumed_from=state.resumed_from,
        seconds=time.time() - plan.started,
    )


def pretrain(
    config: ExperimentConfig,
    *,
    arrays=None,
    extra_callbacks=(),
    do_export=True,
    verbose="auto",
) -> PretrainResult:
    """Pretrains an encoder; rerunning the same config resumes.

    Args:
        config: the experiment.
        arrays: for `data.source='arrays'`: `(images, labels)` of the
            training split, or `{split: (images, labels)}` (the kNN
            monitor needs `data.eval_split` too).
        extra_callbacks: Keras callbacks run after the built-in ones.
        do_export: export the encoder to `<export_dir>/<name>`.
        verbose: `model.fit`'s `verbose`.

    Returns:
        A `PretrainResult`.
    """
    plan = prepare(config, arrays)
    state = restore_or_build(plan)
    history = fit_resumable(plan, state, extra_callbacks, verbose)
    return finish(plan, state, history, do_export)
