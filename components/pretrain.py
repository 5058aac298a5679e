"""`Pretrain`: the ssl_tf pretraining run as a pipeline component."""

from __future__ import annotations

import dataclasses
import json
import os

from components.component import (
    InputArtifact,
    OutputArtifact,
    Parameter,
    component,
)
from components.types import Examples, Model, ModelRun
from ssl_tf import export
from ssl_tf.config import ExperimentConfig
from ssl_tf.training import run


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
    config = ExperimentConfig.from_json(config_json)
    data = dataclasses.replace(
        config.data,
        source="tfrecord",
        name=examples.file_pattern(),
        split=split,
    )
    config = dataclasses.replace(
        config, data=data, output_dir=model_run.uri, export_dir=model.uri
    )
    result = run.pretrain(config, do_export=False, verbose=2)
    export.export_encoder(
        result.model.encoder,
        model.uri,
        config.data.image_size,
        metadata={
            "config": json.loads(config.to_json()),
            "method": config.method,
        },
    )
    if not os.path.exists(
        os.path.join(model.uri, "saved_model", "saved_model.pb")
    ):
        raise RuntimeError("Pretrain failed to generate model.")
    model_run.properties.update(
        run_dir=result.run_dir, history=result.history, seconds=result.seconds
    )
    exported = export.read_metadata(model.uri)
    keys = ("image_size", "embedding_dim", "fingerprint", "method")
    model.properties.update({key: exported[key] for key in keys})
