"""`Evaluate`: one ssl_tf evaluation protocol (linear, knn, ...) on Examples."""

from __future__ import annotations

import json
import os

import ssl_tf
from components.component import (
    InputArtifact,
    OutputArtifact,
    Parameter,
    component,
)
from components.types import Examples, Model, ModelEvaluation


@component
def Evaluate(
    examples: InputArtifact[Examples],
    model: InputArtifact[Model],
    evaluation: OutputArtifact[ModelEvaluation],
    protocol: Parameter[str],
    options_json: Parameter[str] = "{}",
    train_split: Parameter[str] = "train",
    test_split: Parameter[str] = "test",
) -> None:
    """Runs `protocol` with `options_json` and writes `result.json`.

    The feature cache is off unless the options turn it on, so everything
    the evaluation writes stays inside `evaluation.uri`.
    """
    examples.check_splits(train_split, test_split)
    options = {"use_cache": False, **json.loads(options_json)}
    data_config = ssl_tf.DataConfig(
        source="tfrecord",
        name=examples.file_pattern(),
        split=train_split,
        eval_split=test_split,
    )
    output_path = os.path.join(evaluation.uri, ModelEvaluation.RESULT_FILE)
    result = ssl_tf.evaluate(
        protocol,
        model.uri,
        data_config,
        options=options,
        output_path=output_path,
    )
    evaluation.properties.update(
        protocol=protocol,
        metrics={
            k: v
            for k, v in result["metrics"].items()
            if isinstance(v, (int, float))
        },
    )
