"""`Pretrain`: the ssl_tf pretraining run as a pipeline component."""

from __future__ import annotations

import dataclasses

import ssl_tf
from components.component import (
    InputArtifact,
    OutputArtifact,
    Parameter,
    component,
)
from components.types import Examples, Model, ModelRun


@component
def Pretrain(
    examples: InputArtifact[Examples],
    model: OutputArtifact[Model],
    model_run: OutputArtifact[ModelRun],
    config_json: Parameter[str],
    split: Parameter[str] = "train",
) -> None:
    """Pretrains the encoder of `config_json` on one split of `examples`.

    Checkpoints and TensorBoard logs go under `model_run.uri`; the encoder
    export (SavedModel + `.keras`) is written to `model.uri`.
    """
    examples.check_splits(split)
    config = ssl_tf.ExperimentConfig.from_json(config_json)
    data = dataclasses.replace(
        config.data,
        source="tfrecord",
        name=examples.file_pattern(),
        split=split,
    )
    config = dataclasses.replace(
        config, data=data, output_dir=model_run.uri, export_dir=model.uri
    )
    result = ssl_tf.pretrain(config, do_export=False, verbose=2)
    ssl_tf.export.export_experiment(result.model.encoder, config, model.uri)
    if not ssl_tf.export.is_export(model.uri):
        raise RuntimeError("Pretrain failed to generate model.")
    model_run.properties.update(
        run_dir=result.run_dir, history=result.history, seconds=result.seconds
    )
    exported = ssl_tf.read_metadata(model.uri)
    keys = ("image_size", "embedding_dim", "fingerprint", "method")
    model.properties.update({key: exported[key] for key in keys})
