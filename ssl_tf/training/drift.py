"""Config drift: a run directory resumes only the config it was trained with.

`prepare` resolves the config and checks it; once the run has restored
its checkpoint, `restore_or_build` records it in the run directory
(`resolved_config.json`). A rerun that finds checkpoints there compares
its own resolved config with the record before any data is read or any
model is built:

- a change that can alter the trained weights is refused with a
  `ConfigError` listing every changed key as `key: old -> new`;
- a change that cannot (`SAFE_KEYS`, and `train.epochs` not below what the
  checkpoint has done) is logged, and the record is updated.

Configs are compared resolved, so two spellings of one run are one run:
method options through `overrides.make_method_config` (a preset that
states a method default and one that leaves it out agree), `auto`
strategy and precision by what they chose here, and the data source by
what it reads (`data_identity`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os

import numpy as np

from ssl_tf import atomic, methods
from ssl_tf.config import ConfigError, ExperimentConfig, make_method_config
from ssl_tf.training import checkpoints, init_from, precision

logger = logging.getLogger("ssl_tf.training")

RECORD = "resolved_config.json"
RECORD_VERSION = 1

# Keys a rerun may change, because they cannot change the trained weights.
# Training depends only on the checkpointed state and on (seed, global
# batch) (that is what makes resume exact, tests/training/test_resume.py),
# so a key that touches neither is safe. Everything else is compared,
# including `train.jit_compile` (XLA reorders float operations: the same
# maths, different bits) and `data.cache` / `data.shuffle_buffer` (they
# choose between the in-memory and the streamed batch order). Verbosity
# is `pretrain`'s `verbose` argument, not a config key.
SAFE_KEYS = {
    # Where the finished encoder is written, not what it holds.
    "export_dir": "export location",
    # Read by the kNN monitor and evaluation only, never by a train step.
    "data.eval_split": "kNN monitor",
    # A manifest path outside the root is read (true) or refused before
    # training (false): a run that trains reads the same images either way.
    "data.allow_outside_root": "a check before training",
    # When checkpoints are written; resuming from any of them is exact.
    "train.checkpoint_every_steps": "checkpoint cadence",
    "train.checkpoint_every_seconds": "checkpoint cadence",
    "train.keep_checkpoints": "checkpoint retention",
    # The monitor embeds with `training=False` (no weight or batch-norm
    # statistic changes) and draws its sample with its own seed.
    "train.knn_monitor_every": "kNN monitor",
    "train.knn_monitor_examples": "kNN monitor",
}
# Together they name the run directory, so a rerun that finds the
# directory is the same run whatever their spelling: not compared.
LOCATION_KEYS = ("name", "output_dir")
# Safe unless it would end the run before what the checkpoint has done.
# The learning-rate schedule (its cosine spans `train.epochs`) then
# follows the new length from the resume point on; the steps already
# done stay as they were.
EPOCHS = "train.epochs"
# Sources whose `data.name` is a path (`{split}` in it is the split).
PATH_SOURCES = ("folder", "manifest", "tfrecord")


def data_identity(config: ExperimentConfig, arrays=None) -> dict:
    """The `data.*` values of `config` by what the source reads.

    A path is made absolute with symlinks resolved, TFDS's `data_dir`
    falls back to `TFDS_DATA_DIR` as the loader does, and in-memory
    arrays are identified by a digest of their bytes (the labels' too if
    the method trains on them). Keys a source does not read are `None`.

    Args:
        config: the experiment.
        arrays: `(images, labels)` of the training split, for
            `data.source='arrays'`.
    """
    data = config.data
    values = {
        f"data.{field.name}": getattr(data, field.name)
        for field in dataclasses.fields(data)
    }
    values["data.data_dir"] = None
    if data.source == "tfds":
        data_dir = data.data_dir or os.environ.get("TFDS_DATA_DIR")
        values["data.data_dir"] = (
            os.path.realpath(data_dir) if data_dir else None
        )
    elif data.source in PATH_SOURCES:
        path = data.name.replace("{split}", data.split)
        values["data.name"] = os.path.realpath(path)
    elif data.source == "arrays":
        labelled = methods.get_method(config.method).needs_labels
        values["data.name"] = _digest(arrays, labelled)
    return values


def _digest(arrays, labelled: bool) -> str | None:
    if arrays is None:
        return None
    parts = [np.asarray(arrays[0])]
    if labelled and arrays[1] is not None:
        parts.append(np.asarray(arrays[1]))
    digest = hashlib.blake2b(digest_size=16)
    for part in parts:
        digest.update(f"{part.shape}{part.dtype}".encode())
        digest.update(np.ascontiguousarray(part).tobytes())
    shape = "x".join(str(size) for size in parts[0].shape)
    return f"arrays {shape} {parts[0].dtype} {digest.hexdigest()}"


def resolve(config: ExperimentConfig, strategy=None, arrays=None) -> dict:
    """`{dotted key: JSON value}`: the config as the run will use it.

    Args:
        config: a validated experiment.
        strategy: the run's `tf.distribute.Strategy`; `train.strategy` and
            `train.mixed_precision` become what it chose (`None` keeps the
            config's words).
        arrays: `(images, labels)` of the training split, for the
            `arrays` source.
    """
    values = {}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if dataclasses.is_dataclass(value):
            for key, item in dataclasses.asdict(value).items():
                values[f"{field.name}.{key}"] = item
        elif field.name != "method_options":
            values[field.name] = value
    options = make_method_config(config.method, config.method_options)
    for key, item in dataclasses.asdict(options).items():
        values[f"method_options.{key}"] = item
    values.update(data_identity(config, arrays))
    if config.encoder.init_from is not None:
        # Two spellings of one encoder are one run, as for data paths. The
        # path is compared, not the weights: a resumed run takes them
        # from its checkpoint, but its record must still say where they
        # came from.
        values["encoder.init_from"] = init_from.identity(
            config.encoder.init_from
        )
    if strategy is not None:
        replicas = strategy.num_replicas_in_sync
        values["train.strategy"] = (
            f"{type(strategy).__name__}, {replicas} replica"
            + ("s" if replicas > 1 else "")
        )
        values["train.mixed_precision"] = precision.resolve(
            config.train.mixed_precision, strategy
        )[0]
    # As it reads back from JSON: tuples become lists.
    return json.loads(json.dumps(values))


def read_record(directory: str) -> dict | None:
    """The resolved config recorded in run `directory` (`None`: none)."""
    path = os.path.join(directory, RECORD)
    try:
        with open(path) as handle:
            return json.load(handle)["config"]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ConfigError(
            f"Cannot read the config record {path} ({error}). Delete it to "
            "resume without the drift check, or start a new run."
        ) from error


def write_record(directory: str, resolved: dict) -> str:
    """Writes `resolved` to run `directory` atomically; returns the path.

    Write, flush to disk, then rename: a reader (or a rerun after a crash)
    sees the old record or the new one, never half a file.
    """
    text = json.dumps(
        {"version": RECORD_VERSION, "config": resolved},
        indent=2,
        sort_keys=True,
    )
    return atomic.write_text(os.path.join(directory, RECORD), text + "\n")


def _show(value) -> str:
    return json.dumps(value)


def check_resume(
    config: ExperimentConfig, directory: str, strategy=None, arrays=None
) -> dict:
    """Refuses to resume run `directory` under a config that drifted.

    Reads only the record and the checkpoint index, so it runs before any
    data is read or any model is built. A directory without checkpoints
    has nothing to protect; one with checkpoints but no record (written
    before ssl_tf kept records) resumes as before.

    Args:
        config: the validated experiment of this rerun.
        directory: its run directory.
        strategy, arrays: as `resolve` takes them.

    Returns:
        The resolved config, for `write_record` once the run has started.

    Raises:
        ConfigError: listing every changed key that can alter the trained
            weights as `key: old -> new`, and how to proceed.
    """
    resolved = resolve(config, strategy, arrays)
    position = checkpoints.saved_position(
        os.path.join(directory, "checkpoints")
    )
    if position is None:
        return resolved
    recorded = read_record(directory)
    if recorded is None:
        logger.warning(
            "%s has checkpoints but no %s (written before ssl_tf recorded "
            "configs): resuming without a drift check; this run's config "
            "is recorded now.",
            directory,
            RECORD,
        )
        return resolved
    refused, allowed = compare(recorded, resolved, position)
    if refused:
        raise ConfigError(_refusal(directory, refused))
    if allowed:
        logger.info(
            "Resuming %s with changes that cannot alter the trained "
            "weights: %s",
            directory,
            "; ".join(allowed),
        )
    return resolved


# What a run recorded before a key existed did, as that key's value: a
# rerun that would now do otherwise is drift, not a new key to ignore.
LEGACY_VALUES = {
    # Before full-resolution crops, every image was resized to a square.
    "data.crop_from": "square",
    # Before `encoder.init_from`, every run started from a random init.
    "encoder.init_from": None,
}


def compare(recorded: dict, resolved: dict, position) -> tuple[list, list]:
    """`(refused, allowed)` lines `key: old -> new` of the changed keys."""
    recorded = {**LEGACY_VALUES, **recorded}
    refused, allowed = [], []
    for key in sorted(recorded.keys() & resolved.keys()):
        old, new = recorded[key], resolved[key]
        if old == new or key in LOCATION_KEYS:
            continue
        line = f"{key}: {_show(old)} -> {_show(new)}"
        if key in SAFE_KEYS:
            allowed.append(f"{line} ({SAFE_KEYS[key]})")
        elif key != EPOCHS:
            refused.append(line)
        elif (new, 0) < tuple(position):
            refused.append(
                f"{line} (the checkpoint is at epoch {position[0]}, step "
                f"{position[1]})"
            )
        else:
            allowed.append(
                f"{line} (the learning-rate schedule now spans {new} epochs "
                "from the resume point)"
            )
    # Keys only one side has were added to or removed from ssl_tf (or
    # belong to another method, and `method` itself differs): not compared.
    for key in sorted(recorded.keys() ^ resolved.keys()):
        logger.info("Config key %s is not in both configs; not compared.", key)
    return refused, allowed


def _refusal(directory: str, refused: list) -> str:
    changes = "\n".join(f"  {line}" for line in refused)
    safe = ", ".join(f"`{key}`" for key in sorted(SAFE_KEYS))
    return (
        f"Run directory {directory} was trained with a different config "
        f"({RECORD}); resuming would mix two configs in one set of weights "
        f"and overwrite its export. Changed keys:\n{changes}\n"
        "To proceed, start a new run (set a new `name` or `output_dir`), or "
        "revert these keys. A rerun may change only keys that cannot alter "
        f"the trained weights: {safe}, and `{EPOCHS}` (not below the "
        "epochs already done)."
    )
