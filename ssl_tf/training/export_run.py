"""Exporting a run's encoder from its latest checkpoint, a random init, or
the encoder a continued run starts from."""

from __future__ import annotations

import os

import tensorflow as tf

from ssl_tf import export, models
from ssl_tf.config import ConfigError, ExperimentConfig
from ssl_tf.training import checkpoints, init_from, run


def baseline_export_dir(config: ExperimentConfig, kind: str) -> str:
    """Where a baseline encoder of `config` (`random`, `start`) exports."""
    return os.path.join(config.export_dir, f"{config.name}-{kind}")


def export_random_encoder(config: ExperimentConfig) -> str:
    """Exports the untrained encoder of `config` (the baseline row)."""
    encoder = models.build_encoder(
        config.encoder, config.data.image_size, seed=config.train.seed
    )
    return export.export_experiment(
        encoder, config, baseline_export_dir(config, "random"), method="random"
    )


def export_start_encoder(config: ExperimentConfig) -> str:
    """Exports the encoder `encoder.init_from` names (a baseline row).

    Continued pretraining should beat where it started, not only a random
    init, so the demo scores both. The export is checked against `config`'s
    encoder as `pretrain` checks it.
    """
    path = config.encoder.init_from
    if path is None:
        raise ConfigError("encoder.init_from is not set: no start encoder.")
    start = init_from.load(path)
    init_from.check_matches(config, start, path)
    directory = baseline_export_dir(config, "start")
    return export.export_experiment(start, config, directory, "init_from")


def export_from_run(config: ExperimentConfig, random_init=False) -> str:
    """Exports the encoder of the latest checkpoint of `config`'s run."""
    run.check_before_work(config)
    if random_init:
        return export_random_encoder(config)
    directory = os.path.join(run.run_dir(config), "checkpoints")
    if tf.train.latest_checkpoint(directory) is None:
        raise ConfigError(
            f"No checkpoint in {directory}: run `ssl-tf pretrain` first."
        )
    strategy = tf.distribute.get_strategy()
    model, _ = run.build_model(config, strategy, steps_per_epoch=1)
    run.build_from_batch(model, config, strategy)
    checkpoint = tf.train.Checkpoint(
        model=checkpoints.variables_by_path(model.weights)
    )
    # expect_partial: the optimizer and progress counters are not needed.
    checkpoint.restore(tf.train.latest_checkpoint(directory)).expect_partial()
    return export.export_experiment(
        model.encoder, config, run.export_dir(config)
    )
